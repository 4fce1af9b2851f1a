"""The frame log: every OCPP-J frame sent and received, with its time and direction, in a
bounded file `ocpp-frames.log` in storage.dir (rotated: two files of 1 MB), for the
diagnostics bundle and for a technician on site.

Secrets never reach it (nor the daemon's log, whose filter uses `redact` too): the values
of AuthorizationKey / BasicAuthPassword in ChangeConfiguration, SetVariables and the
answers that list them, private-key PEM blocks, Basic-auth tokens and the user info of URLs
(a firmware location like ftp://user:password@host/fw.bin).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

FILE_NAME = "ocpp-frames.log"
MAX_BYTES = 1_000_000
BACKUPS = 1  # ocpp-frames.log and ocpp-frames.log.1

# Configuration keys (1.6) and variables (2.0.1) whose values are secrets.
SECRET_NAMES = {"AuthorizationKey", "BasicAuthPassword"}
HIDDEN = "********"

# a PEM private key, up to its END line, or as far as key material goes when cut short
_PRIVATE_KEY = re.compile(
    r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----"
    r"(?:.*?-----END \1PRIVATE KEY-----|(?:[A-Za-z0-9+/=:\s-]|\\n)*)",
    re.S,
)
PRIVATE_KEY_HIDDEN = "[private key hidden]"
_BASIC = re.compile(r"(Basic\s+)[A-Za-z0-9+/=]{4,}")
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s\"']+@")
# a URL's query often carries a token (pre-signed download links): hidden as a whole
_QUERY = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s\"'?]*\?)[^\s\"']+")
# a value in JSON text too cut short to parse (the daemon logs requests to 300 characters)
_ANY_VALUE = re.compile(r'("(?:value|attributeValue)"\s*:\s*)"(?:[^"\\]|\\.)*"?')


def redact(text: str) -> str:
    """`text` (a frame, a log line) with every secret this module knows replaced."""
    # each pattern only where its literal part is: most frames have none (a frame costs less)
    if "PRIVATE KEY" in text:
        text = _PRIVATE_KEY.sub(PRIVATE_KEY_HIDDEN, text)
    if "Basic" in text:
        text = _BASIC.sub(rf"\g<1>{HIDDEN}", text)
    if "://" in text:
        text = _USERINFO.sub(rf"\g<1>{HIDDEN}@", text)
        text = _QUERY.sub(rf"\g<1>{HIDDEN}", text)
    if not any(name in text for name in SECRET_NAMES):
        return text
    start = min((i for i in (text.find("["), text.find("{")) if i >= 0), default=-1)
    if start >= 0:
        try:
            frame = json.loads(text[start:])
        except ValueError:
            pass
        else:
            return text[:start] + json.dumps(_hide_values(frame), separators=(",", ":"))
    # not parseable: hide every value of the line rather than risk the secret
    return _ANY_VALUE.sub(rf'\g<1>"{HIDDEN}"', text)


def _hide_values(node: Any) -> Any:
    """A JSON value with the values of secret keys / variables hidden: a 1.6 {"key": K,
    "value": V} and a 2.0.1 {"variable": {"name": K}, "attributeValue": V} (with
    "variableAttribute" lists in reports)."""
    if isinstance(node, list):
        return [_hide_values(item) for item in node]
    if not isinstance(node, dict):
        return node
    variable = node.get("variable")
    name = node.get("key", variable.get("name") if isinstance(variable, dict) else None)
    secret = isinstance(name, str) and name in SECRET_NAMES  # GetConfiguration: a list
    out: dict[str, Any] = {}
    for key, value in node.items():
        if secret and key in ("value", "attributeValue") and isinstance(value, str):
            out[key] = HIDDEN
        elif secret and key == "variableAttribute" and isinstance(value, list):
            out[key] = [{**a, "value": HIDDEN} if "value" in a else a for a in value]
        else:
            out[key] = _hide_values(value)
    return out


class UtcFormatter(logging.Formatter):
    """Lines that begin with an RFC 3339 UTC time (the frame log, the kept daemon log): a
    bundle is cut to the CSMS's time window by comparing it."""

    converter = time.gmtime

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


class FrameLog:
    """ocpp-frames.log, written directly: one `os.write` per frame, in append mode, so a
    frame is in the file (page cache) once recorded, also across kill -9. Not through
    `logging`: a frame is recorded twice per message, and a LogRecord, its formatting and
    the handler's flush cost more than the rest of sending the message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._size = os.fstat(self._fd).st_size
        self._second = -1
        self._stamp = ""

    def write(self, direction: str, text: str) -> None:
        now = time.time()
        second = int(now)
        if second != self._second:  # the formatted date, once a second
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        millis = int((now - second) * 1000)
        line = f"{self._stamp}.{millis:03d}Z {direction} {text}\n".encode("utf-8", "replace")
        if self._size + len(line) > MAX_BYTES and self._size > 0:
            self._rotate()
        self._size += os.write(self._fd, line)

    def _rotate(self) -> None:
        os.close(self._fd)
        for n in range(BACKUPS, 0, -1):
            older = self.path.with_name(f"{FILE_NAME}.{n}")
            newer = self.path if n == 1 else self.path.with_name(f"{FILE_NAME}.{n - 1}")
            if newer.exists():
                os.replace(newer, older)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._size = 0

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


_open: FrameLog | None = None


def open_log(storage_dir: Path) -> Path:
    """Start writing frames to storage_dir/ocpp-frames.log (again after a soft reset: the
    same file, kept open); its path."""
    global _open
    path = storage_dir / FILE_NAME
    if _open is not None and _open.path == path:
        return path
    close_log()
    _open = FrameLog(path)
    return path


def close_log() -> None:
    """Stop writing frames (a test that opened the log in its own storage dir)."""
    global _open
    if _open is not None:
        _open.close()
        _open = None


def record(direction: str, text: str | bytes) -> None:
    """One frame: direction "→" (sent) or "←" (received)."""
    if _open is None:
        return
    if isinstance(text, bytes):
        text = repr(text)
    _open.write(direction, redact(text))


def files(storage_dir: Path) -> list[Path]:
    """The frame log's files, oldest first."""
    path = storage_dir / FILE_NAME
    older = [path.with_name(f"{FILE_NAME}.{n}") for n in range(BACKUPS, 0, -1)]
    return [p for p in [*older, path] if p.exists()]
