"""The daemon on its board: `storage:` (state on disk), `control:` (the chargerctl socket),
`reset:` (what a hard reset runs) and `log:`.

Most of these keys fill fields of Config itself (`storage_dir`, `control_socket`, ...),
read by many modules; the outbox's limits are in `Config.storage`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .schema import Found, Key, Section, check_section, flat_section
from .source import Node, Problem, show
from .values import Invalid, one_of, optional, path_value, positive_number, text

LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class StorageConfig:
    # The outbox's limit on disk; when full, intermediate MeterValues are thinned out.
    max_queue_mb: float = 64.0


# sockaddr_un.sun_path holds 108 bytes including the final NUL
_MAX_SOCKET_PATH = 107


def socket_path(value: object) -> Path:
    name = text()(value)
    size = len(os.fsencode(name))
    if size > _MAX_SOCKET_PATH:
        raise Invalid(
            f"{show(name)} is {size} bytes long; allowed: at most {_MAX_SOCKET_PATH} bytes "
            "(a Unix socket limit; use a shorter or relative path)"
        )
    return Path(name)


STORAGE_KEYS: dict[str, Key] = {
    "dir": Key(path_value, attr="storage_dir"),
    "max_queue_mb": Key(positive_number),
}


def read_storage(node: Node | None, found: Found, problems: list[Problem]) -> dict[str, Any]:
    storage = check_section(node, "storage", STORAGE_KEYS, problems)
    if not storage.ok:
        return {}
    values = dict(storage.values)
    fields: dict[str, Any] = {}
    if "storage_dir" in values:
        fields["storage_dir"] = values.pop("storage_dir")
    return {**fields, "storage": StorageConfig(**values)}


STORAGE = Section("storage", read_storage, keys=tuple(STORAGE_KEYS))
CONTROL = flat_section("control", {"socket": Key(socket_path, attr="control_socket")})
RESET = flat_section("reset", {"hard_command": Key(optional(text()), attr="hard_reset_command")})
LOG = flat_section("log", {
    "level": Key(one_of(LOG_LEVELS), attr="log_level"),
    "file": Key(optional(path_value), attr="log_file"),  # None: stderr (the journal)
})  # fmt: skip


def make_dirs(storage_dir: Path, control_socket: Path, file: str) -> list[str]:
    """Create the state and socket directories the daemon needs; a line naming the key
    and the resolved path for each that cannot be created or written (a relative path
    under systemd counts from /, which the daemon's user may not write)."""
    problems = []
    for key, directory in (("storage.dir", storage_dir), ("control.socket", control_socket.parent)):
        resolved = directory.absolute()
        try:
            resolved.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            problems.append(
                f"{file}: {key}: cannot create the directory {resolved}: {reason}; allowed: "
                "a directory this user can create and write, e.g. "
                + ("/var/lib/chargerd" if key == "storage.dir" else "/run/chargerd/control.sock")
            )
            continue
        if not os.access(resolved, os.W_OK | os.X_OK):
            problems.append(
                f"{file}: {key}: the directory {resolved} is not writable by this user "
                f"(uid {os.getuid()}); allowed: a directory it owns, e.g. the unit's "
                + ("StateDirectory /var/lib/chargerd" if key == "storage.dir"
                   else "RuntimeDirectory /run/chargerd")
            )  # fmt: skip
    return problems
