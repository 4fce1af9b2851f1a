"""`csms:` where the CSMS is, which OCPP version it speaks, and how the link behaves."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .schema import Checked, Found, Key, Section, check_section
from .security import check_csms
from .source import Node, Problem, join, show
from .values import Invalid, integer_in, one_of, optional, positive_number, text

OCPP_VERSIONS = ("1.6", "2.0.1")


@dataclass(frozen=True)
class CsmsConfig:
    url: str  # the station id is appended as the last path segment
    ocpp_version: str = "1.6"  # "1.6" or "2.0.1"
    password: str | None = None  # Basic auth (security profile 1) when set
    ca_file: str | None = None  # CA bundle to verify a wss:// server; system CAs when None
    # 1: Basic auth; 2: TLS (server checked against the CSMS roots) + Basic auth; 3: mutual TLS
    security_profile: int = 1
    client_cert: str | None = None  # PEM, leaf first then sub-CAs (profile 3), from the maker
    client_key: str | None = None  # its private key (PEM, unencrypted, mode 0600)
    call_timeout_s: float = 30.0  # how long to wait for a CALLRESULT
    reconnect_min_s: float = 1.0  # first reconnect wait; doubles after each failure
    reconnect_max_s: float = 60.0  # cap of the reconnect wait
    # When replaying a backlog, queued meter samples of one transaction are combined into
    # one message (1.6 MeterValues, 2.0.1 TransactionEvent) of at most this many meter
    # values; 1 sends each alone.
    replay_batch: int = 100


def ocpp_version_value(value: object) -> str:
    if isinstance(value, float) and value == 1.6:  # `ocpp_version: 1.6` written without quotes
        return "1.6"
    return str(one_of(OCPP_VERSIONS)(value))


def ws_url(value: object) -> str:
    allowed = "ws://host[:port]/path or wss://host[:port]/path"
    url = text()(value)
    if not url.startswith(("ws://", "wss://")):
        raise Invalid(f"{show(url)} does not start with ws:// or wss://; allowed: {allowed}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise Invalid(f"{show(url)} has an invalid host or port; allowed: {allowed}") from None
    if not parts.hostname:
        raise Invalid(f"{show(url)} has no host; allowed: {allowed}")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise Invalid(
            f"{show(url)} has a query or fragment; allowed: {allowed} "
            "(the station id is appended to the path)"
        )
    return url


def existing_file(value: object, allowed: str = "the path of an existing CA bundle (PEM) "
                  "file, or null for the system CAs") -> str:  # fmt: skip
    name = text()(value)
    if not os.path.isfile(name):
        raise Invalid(f"{show(name)} is not an existing file; allowed: {allowed}")
    return name


def client_file(what: str) -> Callable[[object], str]:
    return lambda value: existing_file(value, f"the path of the station's {what} (PEM), or null")


KEYS: dict[str, Key] = {
    "url": Key(ws_url, required=True),
    "ocpp_version": Key(ocpp_version_value),
    "password": Key(optional(text())),
    "ca_file": Key(optional(existing_file)),
    "security_profile": Key(integer_in(1, 3)),
    "client_cert": Key(optional(client_file("certificate"))),
    "client_key": Key(optional(client_file("private key"))),
    "call_timeout_s": Key(positive_number),
    "reconnect_min_s": Key(positive_number),
    "reconnect_max_s": Key(positive_number),  # ≥ reconnect_min_s, checked below
    "replay_batch": Key(integer_in(1, 1000)),
}


def check_reconnect(csms: Checked, problems: list[Problem]) -> None:
    if csms.invalid("reconnect_min_s") or csms.invalid("reconnect_max_s"):
        return
    low = csms.values.get("reconnect_min_s", CsmsConfig.reconnect_min_s)
    high = csms.values.get("reconnect_max_s", CsmsConfig.reconnect_max_s)
    if high >= low:
        return
    if "reconnect_max_s" in csms.nodes:
        node, key = csms.nodes["reconnect_max_s"], "reconnect_max_s"
        message = f"{high:g} is below reconnect_min_s ({low:g}); allowed: a number ≥ {low:g}"
    else:
        node, key = csms.nodes["reconnect_min_s"], "reconnect_min_s"
        message = (
            f"{low:g} is above reconnect_max_s ({high:g}, the default); "
            f"allowed: a number ≤ {high:g}, or set reconnect_max_s too"
        )
    problems.append(Problem(node.line, join("csms", key), message))


def check_station_not_in_url(
    csms: Checked, station_id: str | None, problems: list[Problem]
) -> None:
    """The daemon appends station.id to csms.url: a URL that already ends in it would
    connect as .../CP-001/CP-001, which a CSMS answers with 404 or an unknown station."""
    url = csms.values.get("url")
    if url is None or not station_id:
        return
    last = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    if last == station_id:
        base = url.rstrip("/")[: -len(station_id)].rstrip("/")
        problems.append(Problem(
            csms.nodes["url"].line, "csms.url",
            f"ends with the station id {show(station_id)}, which chargerd appends itself; "
            f"allowed: the URL without it, e.g. {show(base)}",
        ))  # fmt: skip


def read(node: Node | None, found: Found, problems: list[Problem]) -> dict[str, Any]:
    csms = check_section(node, "csms", KEYS, problems)
    check_reconnect(csms, problems)
    check_station_not_in_url(csms, found.station_id, problems)
    check_csms(csms, node, problems)  # security profile, TLS files (security.py)
    # the shape of the ocpp section depends on the version; unknown when it is invalid
    found.ocpp_version = (
        None
        if csms.invalid("ocpp_version")
        else csms.values.get("ocpp_version", CsmsConfig.ocpp_version)
    )
    return {"csms": CsmsConfig(**csms.values)} if csms.ok else {}


SECTION = Section("csms", read, required=True, keys=tuple(KEYS))
