"""`station:` what the station tells the CSMS about itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .schema import Found, Key, Section, check_section
from .source import Node, Problem, show
from .values import Invalid, optional, text


@dataclass(frozen=True)
class StationInfo:
    id: str
    vendor: str = "chargerd"
    model: str = "chargerd-sim"
    serial: str | None = None
    firmware_version: str = "0.1.0"


def station_id(value: object) -> str:
    allowed = (
        "1..48 characters without '/', '?', '#' or whitespace "
        "(it becomes the last segment of the CSMS URL)"
    )
    name = text(48)(value)
    if any(c in "/?#" or c.isspace() for c in name):
        raise Invalid(f"{show(name)} contains '/', '?', '#' or whitespace; allowed: {allowed}")
    return name


KEYS: dict[str, Key] = {
    "id": Key(station_id, required=True),
    "vendor": Key(text(20)),  # lengths: OCPP 1.6 BootNotification.req
    "model": Key(text(20)),
    "serial": Key(optional(text(25))),
    "firmware_version": Key(text(50)),
}


def read(node: Node | None, found: Found, problems: list[Problem]) -> dict[str, Any]:
    station = check_section(node, "station", KEYS, problems)
    found.station_id = station.values.get("id")  # csms.url must not end with it
    return {"station": StationInfo(**station.values)} if station.ok else {}


SECTION = Section("station", read, required=True, keys=tuple(KEYS))
