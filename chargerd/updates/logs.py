"""Log uploads: GetDiagnostics (1.6) and GetLog (1.6 security extension, 2.0.1 N01).

The upload's rules are a small machine without I/O (`UploadMachine`): a request starts
it (Uploading), a failed attempt is tried again after retryInterval until `retries`
attempts were made (then UploadFailure), a location that is no usable URL fails at once
(BadMessage), as do a server that refuses (PermissionDenied) and a protocol this station
does not speak (NotSupportedOperation); a new request during an upload cancels it
(AcceptedCanceled). `LogUploads`, the daemon's part "logs", carries it out: it makes the
bundle (bundle.py), uploads it with the firmware block's transfers, and tells its
listeners (the adapters' firmware modules) every status.

An upload is not resumed after a restart: the CSMS asks again (its status notifications
already sent are kept in the outbox).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .. import frames

if TYPE_CHECKING:
    from ..daemon import Daemon

log = logging.getLogger("chargerd.logs")

SCHEMES = ("http", "https", "ftp", "ftps")  # SupportedFileTransferProtocols
KNOWN_ELSEWHERE = ("sftp", "scp", "file", "tftp")  # protocols of uploads, not ours


class UploadStatus(StrEnum):
    Idle = "Idle"
    Uploading = "Uploading"
    Uploaded = "Uploaded"
    UploadFailure = "UploadFailure"
    BadMessage = "BadMessage"
    PermissionDenied = "PermissionDenied"
    NotSupportedOperation = "NotSupportedOperation"
    AcceptedCanceled = "AcceptedCanceled"


@dataclass(frozen=True)
class LogRequest:
    """One GetDiagnostics / GetLog, version-neutral; times are epoch seconds."""

    request_id: int | None  # GetDiagnostics: None
    location: str  # the directory the file goes to
    security_only: bool = False  # GetLog SecurityLog
    oldest: float | None = None
    latest: float | None = None
    attempts: int = 1  # `retries`: how many times the station tries
    retry_interval_s: float = 0


@dataclass(frozen=True)
class Attempt:
    """Upload now (attempt n), after `wait_s`."""

    n: int
    wait_s: float = 0


@dataclass
class UploadMachine:
    """One upload's rules: statuses out, transfer results in."""

    request: LogRequest
    attempt: int = 0
    status: UploadStatus = UploadStatus.Idle
    reported: list[UploadStatus] = field(default_factory=list)

    def start(self) -> Attempt | None:
        """The first attempt, or None when the location cannot be used at all."""
        problem = location_problem(self.request.location)
        if problem is not None:
            self._report(problem)
            return None
        self._report(UploadStatus.Uploading)
        self.attempt = 1
        return Attempt(1)

    def failed(self, kind: str) -> Attempt | None:
        """The attempt failed (`kind` of transfer.TransferError); the next one, or None."""
        final = {
            "BadMessage": UploadStatus.BadMessage,
            "PermissionDenied": UploadStatus.PermissionDenied,
            "NotSupportedOperation": UploadStatus.NotSupportedOperation,
        }.get(kind)
        if final is None and self.attempt < self.request.attempts:
            self.attempt += 1
            return Attempt(self.attempt, self.request.retry_interval_s)
        self._report(final or UploadStatus.UploadFailure)
        return None

    def succeeded(self) -> None:
        self._report(UploadStatus.Uploaded)

    def cancel(self) -> None:
        self._report(UploadStatus.AcceptedCanceled)

    @property
    def running(self) -> bool:
        return self.status is UploadStatus.Uploading

    def _report(self, status: UploadStatus) -> None:
        self.status = status
        self.reported.append(status)


def location_problem(location: str) -> UploadStatus | None:
    """Why `location` cannot take an upload, as the status to report; None if it can."""
    try:
        parts = urlsplit(location)
    except ValueError:
        return UploadStatus.BadMessage
    scheme = parts.scheme.lower()
    if scheme in KNOWN_ELSEWHERE:
        return UploadStatus.NotSupportedOperation
    if scheme not in SCHEMES or not parts.hostname:
        return UploadStatus.BadMessage
    return None


def directory(location: str) -> str:
    """The location as a directory URL: the bundle's name is appended to it."""
    parts = urlsplit(location)
    if parts.path.endswith("/"):
        return location
    return parts._replace(path=parts.path + "/").geturl()


UploadListener = Callable[[UploadStatus, LogRequest], None]


class LogUploads:
    """The daemon's part "logs": one upload at a time."""

    name = "logs"

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        frames.open_log(daemon.config.storage_dir)  # what the bundles' ocpp-frames.log holds
        # bundles of uploads a kill or a stop cut short: not resumed (the CSMS asks again)
        shutil.rmtree(daemon.config.storage_dir / "uploads", ignore_errors=True)
        self.status_listeners: list[UploadListener] = []
        self._machine: UploadMachine | None = None
        self._task: asyncio.Task[None] | None = None
        self._uploads = 0  # uploads started in this run
        self._last: tuple[UploadStatus, LogRequest, float] | None = None  # for status

    def request(self, req: LogRequest, now: float) -> tuple[str, str]:
        """("Accepted" | "AcceptedCanceled", the bundle's file name); the upload follows."""
        answer = "Accepted"
        if self._machine is not None and self._machine.running:
            log.info("log upload %s cancelled by a new request", self._machine.request.request_id)
            if self._task is not None:
                self._task.cancel()
            self._machine.cancel()
            self._tell(self._machine)
            answer = "AcceptedCanceled"
        from . import bundle

        name = bundle.file_name(self.daemon.config.station.id, now, req.security_only)
        self._machine = UploadMachine(req)
        self._task = asyncio.create_task(self._upload(self._machine, name))
        return answer, name

    def last_status(self) -> tuple[UploadStatus, int | None]:
        """For TriggerMessage: Uploading (and its request) while one runs, else Idle."""
        machine = self._machine
        if machine is not None and machine.running:
            return UploadStatus.Uploading, machine.request.request_id
        return UploadStatus.Idle, None

    async def _upload(self, machine: UploadMachine, name: str) -> None:
        from . import transfer

        attempt = machine.start()
        self._tell(machine)
        # a directory per upload: a cancelled one cleans up only its own file
        self._uploads += 1
        folder = self.daemon.config.storage_dir / "uploads" / str(self._uploads)
        file = folder / name
        req = machine.request
        try:
            while attempt is not None:
                await asyncio.sleep(attempt.wait_s)
                try:
                    await self._make(file, req)
                    await transfer.upload(directory(req.location), file)
                except OSError as exc:  # the bundle could not be written (disk full?)
                    log.error("log bundle %s could not be made: %s", name, exc)
                    attempt = machine.failed("Failed")
                    if attempt is None:
                        self._tell(machine)
                    continue
                except transfer.TransferError as exc:
                    log.warning("log upload to %s, attempt %d of %d, failed: %s",
                                transfer.safe_url(req.location), attempt.n, req.attempts,
                                exc.reason)  # fmt: skip
                    attempt = machine.failed(exc.kind)
                    if attempt is None:
                        self._tell(machine)
                    continue
                log.info("log bundle %s uploaded to %s", name, transfer.safe_url(req.location))
                machine.succeeded()
                self._tell(machine)
                attempt = None
        finally:
            file.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                folder.rmdir()

    async def _make(self, file: Path, req: LogRequest) -> None:
        from . import bundle

        if file.exists():
            return  # made for an earlier attempt
        sources = bundle.sources_of(self.daemon)  # in the loop: it reads the daemon's state
        window = bundle.Window(req.oldest, req.latest)
        await asyncio.to_thread(bundle.write, file, sources, window, req.security_only)

    def _tell(self, machine: UploadMachine) -> None:
        self._last = (machine.status, machine.request, time.time())
        for listener in self.status_listeners:
            listener(machine.status, machine.request)

    # --- Part ------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await asyncio.Event().wait()  # until the daemon stops
        finally:  # the daemon stops: so does an upload (its statuses would find no store)
            if self._task is not None:
                self._task.cancel()

    def see(self, decision: Any) -> None:
        return

    def status(self, into: dict[str, Any]) -> None:
        if self._last is None:
            return
        status, req, at = self._last
        into["logs"] = {"status": str(status), "request_id": req.request_id, "at": at}
