"""The diagnostics bundle: one tar.gz a CSMS (GetDiagnostics, GetLog) or a technician
(`chargerctl logs bundle FILE`) gets of the station.

    chargerd.log      the daemon's kept log (storage.dir), cut to the requested time window
    security.log      the security events (when the security block keeps them), same window
    status.json       what `chargerctl status --json` shows
    config.yaml       the station's YAML with every secret replaced
    ocpp-frames.log   the recent OCPP frames (frames.py), same window

No password, key or token ever goes in: the files are built from sources that already hide
them (frames.redact in the log filter), and every file passes through `Secrets.hide`, which
also replaces the station's own secrets (the CSMS password, its Basic-auth token, stored
keys) wherever they would still appear. A SecurityLog request gets security.log alone.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import tarfile
import time
from calendar import timegm
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .. import frames, logs

if TYPE_CHECKING:
    from ..daemon import Daemon

HIDDEN = frames.HIDDEN
# YAML keys whose values are secrets, wherever they are (csms.password, csms.client_key, ...)
SECRET_KEY = re.compile(r"password|secret|token|(^|_)key$", re.I)
# the UTC stamp that begins a line of the kept log and the frame log
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?Z")


@dataclass(frozen=True)
class Window:
    """The lines wanted: from `oldest` to `latest` (epoch seconds; None: unbounded)."""

    oldest: float | None = None
    latest: float | None = None

    def holds(self, at: float) -> bool:
        return (self.oldest is None or at >= self.oldest) and (
            self.latest is None or at <= self.latest
        )


@dataclass(frozen=True)
class Secrets:
    """Values that must never leave the station, whatever file they turn up in."""

    values: tuple[str, ...] = ()

    def hide(self, text: str) -> str:
        text = frames.redact(text)
        for value in self.values:
            text = text.replace(value, HIDDEN)
        return text


@dataclass
class Sources:
    """What a bundle is made of (the daemon's, or a test's)."""

    storage_dir: Path
    config_path: Path | None
    status: dict[str, Any]
    security_log: Path | None = None
    secrets: Secrets = field(default_factory=Secrets)


def sources_of(daemon: Daemon) -> Sources:
    config = daemon.config
    values = []
    if config.csms.password:
        values.append(config.csms.password)
        token = f"{config.station.id}:{config.csms.password}".encode()
        values.append(base64.b64encode(token).decode())
    for key, (value, _seeded) in daemon.store.settings().items():
        if any(name in key for name in frames.SECRET_NAMES) and value:
            values.append(str(value))  # a key / password the CSMS set
    security = daemon.parts.get("security")
    events = getattr(security, "events", None)
    log_path = getattr(events, "log_path", None)
    return Sources(
        storage_dir=config.storage_dir,
        config_path=config.path,
        status=daemon.status(),
        security_log=Path(log_path) if log_path else None,
        # longest first: a token is not left half-replaced by a value it contains
        secrets=Secrets(tuple(sorted({v for v in values if len(v) >= 4}, key=len, reverse=True))),
    )


def write(dest: Path, src: Sources, window: Window = Window(), security_only: bool = False) -> Path:
    """Write the bundle to `dest` (a .tar.gz); `dest`."""
    members: dict[str, str] = {}
    rotated = [] if src.security_log is None else [
        src.security_log.with_name(src.security_log.name + ".1"), src.security_log
    ]  # fmt: skip
    security = _lines(rotated, window)
    members["security.log"] = security or "(no security events recorded in this window)\n"
    if not security_only:
        members["chargerd.log"] = _lines(logs.kept_files(src.storage_dir), window)
        members["status.json"] = json.dumps(src.status, indent=2, sort_keys=True) + "\n"
        members["config.yaml"] = _config(src.config_path)
        members["ocpp-frames.log"] = _lines(frames.files(src.storage_dir), window)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    with tarfile.open(partial, "w:gz") as tar:
        now = time.time()
        for name, text in members.items():
            data = src.secrets.hide(text).encode()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), int(now), 0o644
            tar.addfile(info, io.BytesIO(data))
    partial.replace(dest)
    return dest


def file_name(station_id: str, now: float, security_only: bool = False) -> str:
    """The bundle's name, as the CSMS sees it: station, kind and UTC time."""
    kind = "security" if security_only else "diagnostics"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", station_id)
    return f"{safe}-{kind}-{stamp}.tar.gz"


def _lines(paths: Iterable[Path], window: Window) -> str:
    """The lines of `paths` (oldest first) whose time lies in `window`; a line without a
    time of its own (a traceback) goes with the line before it."""
    out: list[str] = []
    keep = window.oldest is None
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines(keepends=True):
            at = _stamp(line)
            if at is not None:
                keep = window.holds(at)
            if keep:
                out.append(line)
    return "".join(out)


def _stamp(line: str) -> float | None:
    match = _STAMP.match(line)
    if match is None:
        return None
    return float(timegm(time.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")))


def _config(path: Path | None) -> str:
    """The station's YAML with secret values replaced (comments do not survive)."""
    if path is None:
        return "# no configuration file\n"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        return f"# {path} could not be read: {type(exc).__name__}\n"
    header = f"# {path.name}, secrets replaced by {HIDDEN}\n"
    return header + yaml.safe_dump(_hide_config(data), sort_keys=False)


def _hide_config(node: Any, key: str = "") -> Any:
    if isinstance(node, dict):
        return {k: _hide_config(v, str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_hide_config(item, key) for item in node]
    if node is not None and (SECRET_KEY.search(key) or key in frames.SECRET_NAMES):
        return HIDDEN
    if isinstance(node, str):
        return frames.redact(node)
    return node


async def command(daemon: Daemon, args: list[str]) -> str:
    """`chargerctl logs bundle FILE`: the bundle a CSMS would get, written by the daemon to
    FILE (an absolute path: chargerctl resolves it), the whole log without a time window."""
    if len(args) != 2 or args[0] != "bundle" or not Path(args[1]).is_absolute():
        raise ValueError("usage: logs bundle FILE")
    dest = Path(args[1])
    sources = sources_of(daemon)
    try:
        await asyncio.to_thread(write, dest, sources)
    except OSError as exc:
        raise ValueError(
            f"cannot write {dest}: {exc.strerror or exc} (the daemon writes it, as its own "
            "user: give a directory it may write, e.g. /tmp)"
        ) from None
    return f"diagnostics bundle written to {dest} ({dest.stat().st_size} bytes)"
