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

_log = logging.getLogger("chargerd.frames")
_log.propagate = False  # frames go to their own file, not into chargerd.log


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


def open_log(storage_dir: Path) -> Path:
    """Start writing frames to storage_dir/ocpp-frames.log (again after a soft reset: the
    same file, one handler); its path."""
    from logging.handlers import RotatingFileHandler  # its imports cost start-up time

    path = storage_dir / FILE_NAME
    for handler in list(_log.handlers):
        if getattr(handler, "baseFilename", None) == str(path.absolute()):
            return path
        _log.removeHandler(handler)
        handler.close()
    class FrameFile(RotatingFileHandler):
        def shouldRollover(self, record: logging.LogRecord) -> bool:  # noqa: N802
            # by the size written so far: the base class stats the file and formats the line
            # a second time, for every frame (half of what logging a frame cost)
            return self.stream is not None and self.stream.tell() >= self.maxBytes

    rotating = FrameFile(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    rotating.setFormatter(UtcFormatter("%(asctime)s %(message)s"))
    _log.addHandler(rotating)
    _log.setLevel(logging.INFO)
    return path


def record(direction: str, text: str | bytes) -> None:
    """One frame: direction "→" (sent) or "←" (received)."""
    if not _log.handlers:
        return
    if isinstance(text, bytes):
        text = repr(text)
    _log.info("%s %s", direction, redact(text))


def files(storage_dir: Path) -> list[Path]:
    """The frame log's files, oldest first."""
    path = storage_dir / FILE_NAME
    older = [path.with_name(f"{FILE_NAME}.{n}") for n in range(BACKUPS, 0, -1)]
    return [p for p in [*older, path] if p.exists()]
