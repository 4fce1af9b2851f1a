"""The firmware update as a state machine without I/O.

Inputs are methods taking `now` (epoch seconds) — a request, the clock and whether a
transaction runs (`tick`), what became of a download, a signature check, an installation,
and the version running after a restart (`booted`). Outputs are decisions, taken in order
with `take()`; the daemon's part carries them out and feeds their results back.

The states are the statuses OCPP reports, in the order the specs give them:

    [DownloadScheduled] → Downloading ⇄ DownloadPaused → Downloaded | DownloadFailed
    Downloaded → [SignatureVerified | InvalidSignature]        (signed requests only)
    → [InstallScheduled] → Installing → InstallRebooting → (restart) → Installed
                         ↘ InstallationFailed                      ↘ InstallVerificationFailed
                         ↘ InstallVerificationFailed  (the installer refused the image)

Each state change is reported once (`Report`). The plain 1.6 adapter sends only the
statuses its enum has (Downloading, Downloaded, DownloadFailed, Installing, Installed,
InstallationFailed), Downloading once per update. Whatever state a restart finds
(`booted`), the update goes on or ends with a failure status.

Downloads. `retries` is the number of attempts, `retryInterval` apart. OCPP 2.0.1 says of
DownloadPaused only "Downloading has been paused" (an intermediate state); this station never
pauses a transfer by choice, so a pause is one that happened to it: an attempt broke off with
part of the image on disk (the file server's connection dropped or timed out mid-file, the
server failed) and attempts are left. The station waits `retryInterval`, then reports
Downloading again and goes on where the file stopped (HTTP Range, FTP REST). A failed attempt
with nothing of the image on disk (refused, not found, unreachable from the start) pauses
nothing: the status stays Downloading until the last attempt fails (DownloadFailed).
Waiting between attempts survives a restart (the next attempt comes at the same time); a
transfer cut off by a restart goes on at once, still Downloading.

Installation. Never while a transaction runs: when it is due, the update waits in
InstallScheduled. With `allow_new_sessions` false (2.0.1
ChargingStation.AllowNewSessionsPendingFirmwareUpdate, absent or false; always on 1.6) the
connectors are held Unavailable from then on, those in use once their session ends; with it
true they stay available, new sessions may start, and the installation waits for a moment
without any session (the connectors are held then, for the installation itself).
InstallationFailed: the installer failed, or a restart cut it off and the old version came
back. InstallVerificationFailed (2.0.1: "verification of the new firmware ... has failed and
installation will not proceed"): the installer's own check refused the image, or the
installer wrote it but after the restart another version runs than the one installed (the new
system failed its health check and the bootloader fell back). Either way the old version
keeps running.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from .statuses import FINAL, UNSTOPPABLE, FirmwareStatus

S = FirmwareStatus
DOWNLOADING = (S.Downloading, S.DownloadPaused)


@dataclass(frozen=True)
class UpdateRequest:
    """One UpdateFirmware / SignedUpdateFirmware, version-neutral. Times are epoch seconds."""

    request_id: int | None  # 1.6 plain UpdateFirmware: None
    location: str
    retrieve_at: float
    retries: int  # the number of download attempts (at least one is made)
    retry_interval_s: int
    install_at: float | None = None
    signing_certificate: str | None = None  # PEM
    signature: str | None = None  # base64
    signed: bool = False  # SignedUpdateFirmware / 2.0.1 with a certificate: must verify

    @property
    def attempts(self) -> int:
        return max(1, self.retries)


# --- decisions --------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """A status to send to the CSMS (FirmwareStatusNotification)."""

    status: FirmwareStatus
    request_id: int | None


@dataclass(frozen=True)
class StartDownload:
    """Fetch the image (resuming a partial file of the same update); `attempt` from 1."""

    location: str
    attempt: int


@dataclass(frozen=True)
class CancelDownload:
    """Stop a transfer in progress and forget its file (a new request replaced it)."""


@dataclass(frozen=True)
class VerifySignature:
    """Check the downloaded file against the request's certificate and signature."""


@dataclass(frozen=True)
class HoldConnectors:
    """Connectors not in use go Unavailable now, the others when their session ends."""


@dataclass(frozen=True)
class ReleaseConnectors:
    """Give the connectors the availability they had before HoldConnectors."""


@dataclass(frozen=True)
class Install:
    """Hand the image to the installer; `version` is the one expected after the restart."""

    version: str


@dataclass(frozen=True)
class Restart:
    """The image is written: restart into it."""


@dataclass(frozen=True)
class SecurityEvent:
    kind: str  # InvalidFirmwareSignature, FirmwareUpdated
    info: str


Decision = (
    Report | StartDownload | CancelDownload | VerifySignature | HoldConnectors
    | ReleaseConnectors | Install | Restart | SecurityEvent
)  # fmt: skip


def version_of(location: str) -> str:
    """The version an image carries in its name: the last `-`-separated part of the file
    name without its extension (chargerd-fw-2.7.1.bin → 2.7.1)."""
    name = PurePosixPath(unquote(urlsplit(location).path)).name or location
    last = name.rsplit("-", 1)[-1]
    for ext in (".tar.gz", ".tar.xz", ".raucb", ".swu", ".mender", ".bin", ".img", ".tar",
                ".gz", ".zip", ".fw"):  # fmt: skip
        if last.endswith(ext) and len(last) > len(ext):
            return last[: -len(ext)]
    return last


# --- the machine ------------------------------------------------------------------------


@dataclass
class UpdateState:
    """Everything the machine knows; persisted after every transition."""

    status: FirmwareStatus = S.Idle
    request: UpdateRequest | None = None
    attempt: int = 0  # download attempts started
    retry_at: float | None = None  # waiting between two attempts until then
    version: str = ""  # expected after the restart
    holding: bool = False  # connectors held Unavailable for the installation
    last_reported: FirmwareStatus = S.Idle
    last_request_id: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> UpdateState:
        raw = json.loads(text)
        request = raw.pop("request")
        state = cls(**raw)
        state.status = S(state.status)
        state.last_reported = S(state.last_reported)
        state.request = UpdateRequest(**request) if request else None
        return state


@dataclass
class UpdateMachine:
    state: UpdateState = field(default_factory=UpdateState)
    _decisions: list[Decision] = field(default_factory=list)
    # a setting, not state: the part keeps it in step with the CSMS's (2.0.1
    # AllowNewSessionsPendingFirmwareUpdate) before every input
    allow_new_sessions: bool = False

    def take(self) -> list[Decision]:
        taken, self._decisions = self._decisions, []
        return taken

    @property
    def status(self) -> FirmwareStatus:
        return self.state.status

    @property
    def active(self) -> bool:
        return self.state.status not in FINAL

    # --- inputs ---------------------------------------------------------------------------

    def request(self, req: UpdateRequest, now: float) -> str:
        """A new update: Accepted, AcceptedCanceled (the running one was cancelled for it)
        or Rejected (an image is being installed)."""
        answer = "Accepted"
        if self.active:
            if self.state.status in UNSTOPPABLE:
                return "Rejected"
            self._cancel()
            answer = "AcceptedCanceled"
        self.state = UpdateState(
            request=req, version=version_of(req.location),
            last_reported=self.state.last_reported, last_request_id=self.state.last_request_id,
        )  # fmt: skip
        if req.retrieve_at > now:
            self._report(S.DownloadScheduled)
        else:
            self._download(now)
        return answer

    def tick(self, now: float, busy: bool) -> None:
        """The clock moved; `busy`: a transaction runs on some connector."""
        s = self.state
        if s.request is None:
            return
        if s.status is S.DownloadScheduled and now >= s.request.retrieve_at:
            self._download(now)
        elif s.status in DOWNLOADING and s.retry_at is not None and now >= s.retry_at:
            self._download(now)
        elif s.status is S.InstallScheduled:
            self._towards_install(now, busy)

    def downloaded(self, now: float, busy: bool) -> None:
        if self.state.status is not S.Downloading or self.state.request is None:
            return  # a result of a cancelled transfer
        self._report(S.Downloaded)
        if self.state.request.signed:
            self._decisions.append(VerifySignature())
        else:
            self._towards_install(now, busy)

    def download_failed(self, reason: str, now: float, kept_bytes: int = 0) -> None:
        """An attempt failed; `kept_bytes` of the image are on disk (the next attempt goes on
        from there): with attempts left, that is a pause."""
        s = self.state
        if s.status is not S.Downloading or s.request is None:
            return
        if s.attempt < s.request.attempts:
            s.retry_at = now + s.request.retry_interval_s
            if kept_bytes > 0:
                self._report(S.DownloadPaused)
        else:
            self._report(S.DownloadFailed)

    def verified(self, ok: bool, reason: str, now: float, busy: bool) -> None:
        if self.state.status is not S.Downloaded:
            return
        if ok:
            self._report(S.SignatureVerified)
            self._towards_install(now, busy)
        else:
            self._report(S.InvalidSignature)
            self._decisions.append(SecurityEvent("InvalidFirmwareSignature", reason))

    def installed(
        self, ok: bool, version: str | None, now: float, verification_failed: bool = False
    ) -> None:
        """The installer finished: `ok` = the image is written; `version` if it said one;
        `verification_failed`: it refused the image (nothing written)."""
        if self.state.status is not S.Installing:
            return
        if ok:
            if version:
                self.state.version = version
            self._report(S.InstallRebooting)
            self._decisions.append(Restart())
        else:
            self._report(S.InstallVerificationFailed if verification_failed
                         else S.InstallationFailed)  # fmt: skip
            self._release()

    def booted(self, running_version: str, now: float, busy: bool) -> None:
        """The daemon (re)started with `running_version`; connectors held before the
        restart were given back already (a temporary Unavailable is never kept)."""
        s = self.state
        s.holding = False
        if s.status in FINAL or s.request is None:
            return
        if s.status in (S.Installing, S.InstallRebooting):
            if running_version == s.version:
                self._report(S.Installed)
                self._decisions.append(SecurityEvent("FirmwareUpdated", running_version))
            elif s.status is S.InstallRebooting:
                # the image was written, yet another version came up: the new system failed
                # its check and the bootloader fell back (A/B), or it is not what was installed
                self._report(S.InstallVerificationFailed)
            else:  # the installation was cut off
                self._report(S.InstallationFailed)
        elif s.status in DOWNLOADING:
            if s.retry_at is None:  # the transfer was running: on with it
                self._decisions.append(StartDownload(s.request.location, s.attempt))
            # else waiting between attempts: the next one comes at retry_at (tick)
        elif s.status is S.Downloaded:
            if s.request.signed:
                self._decisions.append(VerifySignature())
            else:
                self._towards_install(now, busy)
        elif s.status in (S.SignatureVerified, S.InstallScheduled):
            self._towards_install(now, busy)
        # DownloadScheduled waits for its time (tick)

    # --- transitions ----------------------------------------------------------------------

    def _report(self, status: FirmwareStatus) -> None:
        self.state.status = status
        self.state.last_reported = status
        self.state.last_request_id = self.state.request.request_id if self.state.request else None
        self._decisions.append(Report(status, self.state.last_request_id))

    def _download(self, now: float) -> None:
        s = self.state
        assert s.request is not None
        s.attempt += 1
        s.retry_at = None
        if s.status is not S.Downloading:
            self._report(S.Downloading)
        self._decisions.append(StartDownload(s.request.location, s.attempt))

    def _towards_install(self, now: float, busy: bool) -> None:
        """Install now if the time has come and no transaction runs; otherwise wait in
        InstallScheduled (holding the connectors once the time has come, unless new sessions
        are allowed meanwhile: then only for the installation itself)."""
        s = self.state
        assert s.request is not None
        due = s.request.install_at is None or now >= s.request.install_at
        hold = due and (not busy or not self.allow_new_sessions)
        if hold and not s.holding:
            s.holding = True
            self._decisions.append(HoldConnectors())
        elif due and not hold:
            self._release()  # the setting became true while they were held
        if not due or busy:
            if s.status is not S.InstallScheduled:
                self._report(S.InstallScheduled)
            return
        self._report(S.Installing)
        self._decisions.append(Install(s.version))

    def _cancel(self) -> None:
        if self.state.status in DOWNLOADING:
            self._decisions.append(CancelDownload())
        self._release()

    def _release(self) -> None:
        if self.state.holding:
            self.state.holding = False
            self._decisions.append(ReleaseConnectors())
