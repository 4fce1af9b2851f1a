"""The daemon's firmware part (daemon.parts["updates"]): carries out the decisions of the
update machine (machine.py) — downloads, the signature check, holding connectors, the
installer, the restart — and feeds their results back.

Durability: the machine's state and the statuses it reported are written in one SQLite
transaction (journal.py) after every input and before any effect starts, so kill -9 or a
power cut at any step finds the update where it was (`booted` says how it goes on).
Statuses wait there until a listener (the adapter's firmware messages, which queue them in
the stored outbox) has taken them. Connectors held Unavailable for an
installation are written down before they are taken, and given back at the next start
before the station reads its availability: the temporary Unavailable never outlives a run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ..core.model import TransactionEnded
from .holding import ConnectorHold
from .journal import Finished, Journal
from .statuses import FINAL, UNSTOPPABLE, FirmwareStatus
from .version import running_version

if TYPE_CHECKING:  # machine.py is imported when an update is under way (start-up time)
    from .machine import Decision, StartDownload, UpdateMachine, UpdateRequest, UpdateState

log = logging.getLogger("chargerd.updates")

StatusListener = Callable[[FirmwareStatus, "int | None"], None]

TICK_S = 1.0  # how often dates and running sessions are looked at
DOWNLOAD_TIMEOUT_S = 30.0  # per network operation, not for the whole file
TICK = object()  # a queue item: look at the clock and the sessions now


def _status_of(stored: str) -> str:
    """The status in a stored UpdateState, read without the machine ("" if unreadable: the
    machine then says what it makes of it)."""
    try:
        return str(json.loads(stored)["status"])
    except (ValueError, TypeError, KeyError):
        return ""


class Updates:
    """Firmware updates of one daemon run; one update at a time."""

    name = "updates"

    def __init__(self, daemon: Any) -> None:
        """Made before the Station: it gives back connectors a previous run held."""
        self.daemon = daemon
        self.config = daemon.config
        self.db = daemon.store.db
        self.dir = Path(self.config.storage_dir) / "firmware"
        # every status change in order (request id beside it), also the final one after the
        # restart; the adapter's firmware messages send them
        self.status_listeners: list[StatusListener] = []
        # the 2.0.1 messages make it read AllowNewSessionsPendingFirmwareUpdate (1.6: false)
        self.allow_new_sessions: Callable[[], bool] = lambda: False
        self.journal = Journal(self.db)
        self._stored = self.journal.state()
        self._machine: UpdateMachine | None = None  # made from _stored when first needed
        self._stored_active = self._stored is not None and _status_of(self._stored) not in FINAL
        self.connectors = ConnectorHold(daemon)
        self.connectors.give_back_at_start()
        self._effects: asyncio.Queue[Any] = asyncio.Queue()
        self._transfer: asyncio.Task[None] | None = None
        self._work: set[asyncio.Task[None]] = set()
        self.detail = ""  # why the last step failed, for chargerctl firmware

    @property
    def machine(self) -> UpdateMachine:
        """The update machine, made from the stored state when first needed: a start that
        finds no update under way does without machine.py (its dataclasses cost start-up)."""
        if self._machine is None:
            from .machine import UpdateMachine, UpdateState

            try:
                state = UpdateState.from_json(self._stored) if self._stored else UpdateState()
            except (ValueError, TypeError, KeyError) as exc:  # another chargerd version's
                log.error("the stored firmware update state is unreadable (%s): forgotten", exc)
                state = UpdateState()
            self._machine = UpdateMachine(state)
        return self._machine

    # --- the API of the OCPP messages -----------------------------------------------------

    async def request(self, req: UpdateRequest, now: float) -> str:
        """Accepted | AcceptedCanceled | Rejected | InvalidCertificate. A signed request whose
        certificate does not chain to a trusted maker root is refused before anything is
        downloaded (security event InvalidFirmwareSigningCertificate)."""
        if req.signed:
            problem = await self._certificate_problem(req, now)
            if problem is not None:
                log.warning("firmware update %s refused: %s", req.request_id, problem)
                self.detail = problem
                self._security_event("InvalidFirmwareSigningCertificate", problem)
                return FirmwareStatus.InvalidCertificate.value
        from .transfer import safe_url

        answer: str = self._input(lambda m: m.request(req, now))
        log.info("firmware update %s from %s: %s", req.request_id, safe_url(req.location), answer)
        return answer

    def last_status(self) -> tuple[FirmwareStatus, int | None]:
        """For TriggerMessage: Idle when the last status sent was Installed or nothing ever
        happened, else the last status and its request id."""
        s = self.machine.state
        if s.last_reported in (FirmwareStatus.Installed, FirmwareStatus.Idle):
            return FirmwareStatus.Idle, None
        return s.last_reported, s.last_request_id

    def active(self) -> bool:
        """An update is in progress (read from the stored state while the machine is not
        made: most starts find no update under way)."""
        return self._machine.active if self._machine is not None else self._stored_active

    def resumed_download(self) -> bool:
        """The update's download is past its first attempt (1.6 plain says Downloading once)."""
        return self.machine.state.attempt > 1

    def running_version(self) -> str:
        return running_version(self.config)

    # --- Part -----------------------------------------------------------------------------

    async def run(self) -> None:
        await asyncio.sleep(0)  # the other parts attach their listeners first
        if self.active():
            running, expected = self.running_version(), self.machine.state.version
            if self.machine.state.status in UNSTOPPABLE and running != expected:
                self.detail = f"{running} runs after the restart, not {expected}"
            self._input(lambda m: m.booted(running, time.time(), self.connectors.busy()))
        else:  # a finished update has nothing to do at a start but hand out its statuses
            self._deliver()
        try:
            while True:
                try:
                    # dates and sessions matter only while an update is under way
                    tick = TICK_S if self.active() else None
                    item = await asyncio.wait_for(self._effects.get(), tick)
                except TimeoutError:
                    item = TICK
                if item is TICK:
                    self._input(lambda m: m.tick(time.time(), self.connectors.busy()))
                else:
                    await self._carry_out(item)
        finally:
            for task in [*self._work, *([self._transfer] if self._transfer else [])]:
                task.cancel()

    def see(self, decision: Any) -> None:
        if isinstance(decision, TransactionEnded) and self.active():
            self._effects.put_nowait(TICK)  # an installation may be waiting for it

    def status(self, into: dict[str, Any]) -> None:
        from .commands import summary

        into["firmware"] = summary(self)

    # --- inputs and persistence -----------------------------------------------------------

    def _input(self, change: Callable[[UpdateMachine], Any]) -> Any:
        """One input to the machine: its new state and reports on disk, then its effects
        queued in order, then the reports handed out."""
        from .machine import Report

        self.machine.allow_new_sessions = self.allow_new_sessions()
        before, was_active = self.machine.state, self.machine.active
        result = change(self.machine)
        decisions = self.machine.take()
        ended: tuple[UpdateState, str] | None = None
        if was_active and self.machine.state is not before:  # replaced by a new request
            ended = (before, "Cancelled")
        elif was_active and not self.machine.active:
            ended = (self.machine.state, str(self.machine.status))
        if decisions or ended is not None:
            self._save(decisions, ended)
        for d in decisions:
            if not isinstance(d, Report):
                self._effects.put_nowait(d)
            else:
                log.info("firmware status: %s (request %s)", d.status, d.request_id)
        self._deliver()
        return result

    def _save(self, decisions: list[Decision], ended: tuple[UpdateState, str] | None) -> None:
        """The state and new reports in one transaction; `ended`: an update that is over
        (its state, how it ended) goes into the history."""
        from .machine import Report
        from .transfer import safe_url

        finished = None
        old, how = ended if ended is not None else (None, "")
        if old is not None and old.request is not None:
            detail = "" if how == "Cancelled" else self.detail
            where = safe_url(old.request.location)
            finished = Finished(
                time.time(), old.request.request_id, where, old.version, how, detail
            )
        reports = [(str(d.status), d.request_id) for d in decisions if isinstance(d, Report)]
        self.journal.save(self.machine.state.to_json(), reports, finished)
        if ended is not None and not self.machine.active:
            shutil.rmtree(self.dir, ignore_errors=True)  # the image is of no more use

    def _deliver(self) -> None:
        """Hand the waiting statuses, oldest first, to the listeners (none yet: later)."""
        if not self.status_listeners:
            return
        for seq, status, request_id in self.journal.waiting():
            for listener in self.status_listeners:
                try:
                    listener(FirmwareStatus(status), request_id)
                except Exception:  # one listener's bug must not stop the update
                    log.exception("firmware status listener failed on %s", status)
            self.journal.handed_out(seq)

    # --- effects ----------------------------------------------------------------------------

    async def _carry_out(self, d: Any) -> None:
        from .machine import (
            CancelDownload,
            HoldConnectors,
            Install,
            ReleaseConnectors,
            Restart,
            SecurityEvent,
            StartDownload,
            VerifySignature,
        )

        if isinstance(d, StartDownload):
            self._stop_transfer()
            self._transfer = asyncio.create_task(self._download(d))
        elif isinstance(d, CancelDownload):
            self._stop_transfer()
            self._forget_other_images()
        elif isinstance(d, VerifySignature):
            self._spawn(self._verify())
        elif isinstance(d, HoldConnectors):
            await self.connectors.hold()
        elif isinstance(d, ReleaseConnectors):
            await self.connectors.release()
        elif isinstance(d, Install):
            self._spawn(self._install(d.version))
        elif isinstance(d, Restart):
            self._restart()
        elif isinstance(d, SecurityEvent):
            self._security_event(d.kind, d.info)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._work.add(task)
        task.add_done_callback(self._work.discard)

    def _stop_transfer(self) -> None:
        if self._transfer is not None and not self._transfer.done():
            self._transfer.cancel()
        self._transfer = None

    def image(self) -> Path:
        """Where the current update's image is downloaded to: a folder per request (a
        partial file is resumed only by the same update), the file named as on the server
        (the sim installer and `{file}` see that name)."""
        req = self.machine.state.request
        assert req is not None
        key = hashlib.sha256(f"{req.request_id}|{req.location}".encode()).hexdigest()[:16]
        name = PurePosixPath(unquote(urlsplit(req.location).path)).name
        name = re.sub(r"[^A-Za-z0-9._+-]", "_", name).lstrip(".") or "firmware.img"
        return self.dir / key / name

    def _forget_other_images(self) -> None:
        keep = self.image().parent if self.machine.state.request else None
        for folder in self.dir.glob("*") if self.dir.exists() else []:
            if folder != keep:
                shutil.rmtree(folder, ignore_errors=True)

    def _still(self, req: UpdateRequest | None) -> bool:
        """The update a result belongs to is still the current one."""
        return req is not None and self.machine.state.request == req

    async def _download(self, d: StartDownload) -> None:
        from .transfer import TransferError, download, safe_url

        req = self.machine.state.request
        assert req is not None
        where = safe_url(d.location)
        log.info("downloading %s (attempt %d of %d)", where, d.attempt, req.attempts)
        try:
            await download(d.location, self.image(), self.config.firmware.max_size_mb * 1_000_000,
                           DOWNLOAD_TIMEOUT_S)  # fmt: skip
        except TransferError as exc:
            reason = exc.reason
            log.warning("download of %s, attempt %d of %d, failed: %s",
                        where, d.attempt, req.attempts, reason)  # fmt: skip
            if self._still(req):
                self.detail = reason
                file = self.image()
                kept = file.stat().st_size if file.exists() else 0  # the next attempt's start
                self._input(lambda m: m.download_failed(reason, time.time(), kept))
            return
        log.info("downloaded %s (%d bytes)", where, self.image().stat().st_size)
        if self._still(req):
            self._input(lambda m: m.downloaded(time.time(), self.connectors.busy()))

    async def _verify(self) -> None:
        from .verify import image_check

        req = self.machine.state.request
        assert req is not None
        problem: str | None
        if not req.signing_certificate or not req.signature:
            problem = "no signing certificate or no signature with the request"
        else:
            problem = await image_check(self.image(), req.signing_certificate, req.signature)
        if problem:
            log.error("firmware %s refused: %s", self.machine.state.version, problem)
            self.detail = problem
        if self._still(req):
            self._input(lambda m: m.verified(problem is None, problem or "", time.time(),
                                             self.connectors.busy()))  # fmt: skip

    async def _install(self, version: str) -> None:
        from .installer import install

        req = self.machine.state.request
        try:
            result = await install(self.config, self.image(), version)
        except OSError as exc:  # the version could not be written (disk?)
            log.error("firmware installation failed: %s", exc)
            self.detail = str(exc)
            ok, named, refused = False, None, False
        else:
            self.detail = result.detail
            ok, named, refused = result.ok, result.version, result.verification_failed
        if self._still(req):
            self._input(lambda m: m.installed(ok, named, time.time(), refused))

    def _restart(self) -> None:
        """Into the new image: in-process for the simulator, else exit 75 (systemd)."""
        if self.config.csms.ocpp_version == "2.0.1":
            from ..ocpp201.adapter import BOOT_REASON_KEY

            self.daemon.store.set_meta(BOOT_REASON_KEY, "FirmwareUpdate")
        hard = self.config.firmware.installer != "sim"
        self.daemon.request_reset(hard, by="the firmware update")

    # --- trust ------------------------------------------------------------------------------

    async def _certificate_problem(self, req: UpdateRequest, now: float) -> str | None:
        from .verify import certificate_check

        if not req.signing_certificate:
            return "no signing certificate with the request"
        return await certificate_check(req.signing_certificate, self.config.firmware.trust_anchor,
                                       self.daemon.parts.get("security"), now)  # fmt: skip

    def _security_event(self, kind: str, info: str) -> None:
        parts = getattr(self.daemon, "parts", {})
        security = parts.get("security")
        if security is None:
            log.warning("security event %s: %s", kind, info)
            return
        security.events.record(kind, info)
