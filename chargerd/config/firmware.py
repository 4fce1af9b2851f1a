"""`firmware:` how the station installs firmware the CSMS sends, and whose signature it
trusts (docs/FIRMWARE.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .schema import Found, Key, Section, check_section
from .source import Node, Problem
from .values import Invalid, integer_in, one_of, path_value, text

INSTALLERS = ("sim", "command")


@dataclass(frozen=True)
class FirmwareConfig:
    # sim: pretend to install and restart in-process (simulator, CI); command: run `command`
    # ({file}, {version} substituted), then exit 75 so systemd restarts the daemon
    installer: str = "sim"
    command: str | None = None  # e.g. "rauc install {file}"
    trust_anchor: Path | None = None  # PEM: the maker's root(s) firmware signatures chain to
    max_size_mb: int = 512  # a larger download is refused (DownloadFailed)


def pem_certificates(value: object) -> Path:
    """A path to a readable PEM file with at least one certificate."""
    path = path_value(value)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise Invalid(f"{str(path)!r} cannot be read ({exc.strerror}); allowed: a PEM file "
                      "with the maker's root certificate(s)") from None  # fmt: skip
    from ..security.certificate import read_pem  # the standard library only

    try:
        read_pem(data)
    except ValueError:
        raise Invalid(f"{str(path)!r} holds no readable PEM certificate; allowed: a PEM file "
                      "with the maker's root certificate(s)") from None  # fmt: skip
    return path


KEYS: dict[str, Key] = {
    "installer": Key(one_of(INSTALLERS)),
    "command": Key(text()),
    "trust_anchor": Key(pem_certificates),
    "max_size_mb": Key(integer_in(1, 100_000)),
}


def read(node: Node | None, found: Found, problems: list[Problem]) -> dict[str, Any]:
    checked = check_section(node, "firmware", KEYS, problems)
    installer = checked.values.get("installer", FirmwareConfig.installer)
    if installer == "command" and "command" not in checked.nodes:
        line = checked.nodes["installer"].line
        problems.append(Problem(line, "firmware.command", "required with installer: command; "
                                "allowed: e.g. \"rauc install {file}\""))  # fmt: skip
        return {}
    return {"firmware": FirmwareConfig(**checked.values)} if checked.ok else {}


SECTION = Section("firmware", read, keys=tuple(KEYS))
