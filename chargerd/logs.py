"""Logging: one line per event, to stderr (the journal) or to `log.file`; secrets never printed.

- Libraries that speak too much are held back: pymodbus logs every raw frame at debug and
  a warning or error at every failed connect or silent poll; our Modbus bus reports the
  same failures once, with the port, unit and reason (`DeviceProblems`).
- SIGHUP calls `reopen()`: after logrotate moved `log.file` away, the daemon writes to a
  new file of that name. Logging to stderr there is nothing to re-open.
- Beside it, the daemon keeps its own bounded log in storage.dir (`chargerd.log`, rotated:
  three files of 1 MB, UTC timestamps) for the diagnostics bundle (GetDiagnostics, GetLog,
  `chargerctl logs bundle`), whatever `log.file` says.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from . import frames

log = logging.getLogger("chargerd")

FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
KEPT_NAME = "chargerd.log"  # the bounded log in storage.dir
KEPT_BYTES = 1_000_000
KEPT_BACKUPS = 2
KEPT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"  # asctime in UTC

# Loggers of libraries, and the least severe level of theirs that reaches the log.
QUIET_LIBRARIES = {
    # Handshake headers (Authorization!) at debug level.
    "websockets": logging.WARNING,
    "transitions": logging.WARNING,  # its per-state chatter
    # Raw frames at debug, "Failed to connect" / "No response received" at every retry:
    # ModbusBus turns each into a DeviceError that says which port and unit.
    "pymodbus": logging.CRITICAL,
}


class Redact(logging.Filter):
    """Replace secrets (the CSMS password, its Basic-auth token) wherever they appear, and
    what the frame log hides (keys and passwords set by the CSMS, URL user info)."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = frames.redact(record.getMessage())
        for secret in self.secrets:
            message = message.replace(secret, "********")
        record.msg, record.args = message, None
        return True


def kept_files(storage_dir: Path) -> list[Path]:
    """The kept log's files in storage.dir, oldest first."""
    path = storage_dir / KEPT_NAME
    older = [path.with_name(f"{KEPT_NAME}.{n}") for n in range(KEPT_BACKUPS, 0, -1)]
    return [p for p in [*older, path] if p.exists()]


class LogFile(logging.FileHandler):
    """A log file that can be re-opened under its name (after logrotate moved it)."""

    def reopen(self) -> None:
        self.acquire()
        try:
            if self.stream is not None:
                self.stream.close()
            self.stream = self._open()
        finally:
            self.release()


def setup(
    level: str = "info",
    secrets: list[str] | None = None,
    file: Path | None = None,
    keep_dir: Path | None = None,
) -> None:
    """Send the log to `file` (appended to) when given, else to stderr; and, with
    `keep_dir` (storage.dir), to the kept log there too.

    A file that cannot be opened is not worth a dead station: the log then goes to
    stderr, and says so first."""
    handler: logging.Handler
    problem = None
    try:
        handler = LogFile(file, encoding="utf-8") if file is not None else _stderr()
    except OSError as exc:
        handler, problem = _stderr(), exc
    handler.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))
    redact = Redact(secrets or [])
    handler.addFilter(redact)
    handlers: list[logging.Handler] = [handler]
    kept_problem: OSError | None = None
    if keep_dir is not None:
        from logging.handlers import RotatingFileHandler  # its imports cost start-up time

        try:
            kept = RotatingFileHandler(
                keep_dir / KEPT_NAME, maxBytes=KEPT_BYTES, backupCount=KEPT_BACKUPS,
                encoding="utf-8",
            )  # fmt: skip
        except OSError as exc:
            kept_problem = exc
        else:
            kept.setFormatter(frames.UtcFormatter(KEPT_FORMAT))
            kept.addFilter(redact)
            handlers.append(kept)
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(level.upper())
    for name, least in QUIET_LIBRARIES.items():
        logging.getLogger(name).setLevel(least)
    if problem is not None:
        log.error("log.file %s cannot be opened (%s); logging to stderr", file, problem)
    if kept_problem is not None:
        log.error("%s cannot be opened (%s): no log in bundles", keep_dir, kept_problem)


def _stderr() -> logging.Handler:
    return logging.StreamHandler(sys.stderr)


def reopen() -> None:
    """SIGHUP: re-open the log file (logrotate); with logs on stderr, nothing to do."""
    files = [h for h in logging.getLogger().handlers if isinstance(h, LogFile)]
    for handler in files:
        handler.reopen()
    if files:
        log.info("SIGHUP: log file re-opened (%s)", files[0].baseFilename)
    else:
        log.info("SIGHUP: logs go to stderr, nothing to re-open")


class DeviceProblems:
    """A device problem is logged when it starts and when it ends, not at every retry.

    The daemon retries a meter every tick and a device that would not start every few
    seconds; the log gets one line when a device fails (connector, device, why) and one
    when it works again."""

    def __init__(self) -> None:
        self._open: dict[tuple[int, str], str] = {}

    def failed(self, connector: int, device: str, why: str) -> None:
        key = (connector, device)
        if key in self._open:
            if self._open[key] != why:
                log.debug("connector %d: %s still failing: %s", connector, device, why)
            return
        self._open[key] = why
        log.error("connector %d: %s failed: %s", connector, device, why)

    def recovered(self, connector: int, device: str) -> None:
        why = self._open.pop((connector, device), None)
        if why is not None:
            log.warning("connector %d: %s works again (it failed: %s)", connector, device, why)

    def failing(self, connector: int, device: str) -> bool:
        return (connector, device) in self._open
