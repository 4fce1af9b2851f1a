"""Bringing an OpenEVSE controller into line: the hold-off first, then the optional features.

The order is the safety rule: a controller boots ENABLED, so an EV plugged in would draw
before any authorization. Nothing may come between finding a controller and holding the
EV off: the hold-off (`FS`, else `FD`) is the first command, verified with `GS`. Only then
are the optional features asked for, and a firmware built without one answers `$NK`: that
is an answer (the feature is absent, remembered until the controller restarts), never a
reason to stop or to ask again at once.

No I/O of its own: the functions talk through a `Line` (the driver's request()).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from hal.drivers.rapi_link import NoAnswer
from hal.drivers.rapi_protocol import (
    CODE_BY_PILOT,
    HELD_OFF_STATES,
    MIN_OFFER_A,
    PILOT_BY_CODE,
    RapiFrame,
    int_arg,
)
from hal.interfaces import DeviceError, PilotState

log = logging.getLogger(__name__)

# Sleep keeps the pilot at +12 V, so a plug-in is still seen; a firmware without sleep
# can still be disabled (the pilot then reads -12 V: plug-ins are seen once enabled).
HOLD_OFF_COMMANDS = ("FS", "FD")
HEARTBEAT_POLLS = 3  # the firmware falls back after this many poll intervals without a pulse


class Line(Protocol):
    async def request(self, command: str) -> RapiFrame: ...


class HoldOffRefused(DeviceError):
    """The controller answered, but would not hold the EV off."""


@dataclass
class Features:
    """What this controller's firmware build has (probed once per start of the controller)."""

    firmware: str = ""  # `GV`: firmware and RAPI version, for the log
    heartbeat: bool = False  # `SY` heartbeat supervision
    lock: bool = False  # Mennekes cable lock in manual mode (`G5`, `S5 M`)
    connect_state: bool = True  # `G0` (asked only of firmware whose GS has no pilot field)


async def hold_off(line: Line, read_state: Callable[[], Awaitable[int]]) -> str:
    """Put the controller where no EV can draw and check it is there; the command that did it.

    Raises HoldOffRefused when every hold-off command is refused or does not take,
    NoAnswer / PortFailed when the controller cannot be reached."""
    refusals: list[str] = []
    for command in HOLD_OFF_COMMANDS:
        reply = await line.request(command)
        if not reply.ok:
            refusals.append(f"{command} refused")
            continue
        state = await read_state()
        if state in HELD_OFF_STATES:
            return command
        refusals.append(f"still in state {state:02X} after {command}")
    raise HoldOffRefused(f"EVSE controller will not hold the EV off: {', '.join(refusals)}")


async def read_state(line: Line, features: Features | None, name: str) -> tuple[int, int | None]:
    """`GS`: the evsestate and the pilot code (None: not known). Firmware before RAPI 5 has
    no pilot field: then `G0` tells whether an EV is there, where that firmware has it."""
    reply = await line.request("GS")
    evse = int_arg(reply, 0, 16)
    if not reply.ok or evse is None:
        raise DeviceError(f"EVSE controller: no state in {reply}")
    pilot = int_arg(reply, 2, 16)
    if pilot is not None or evse in PILOT_BY_CODE:
        return evse, pilot
    if features is not None and not features.connect_state:
        return evse, None
    g0 = await line.request("G0")
    if not g0.ok:
        if features is not None:
            features.connect_state = False
        log.warning("%s: no G0 either: plug-ins are seen once enabled", name)
        return evse, None
    connected = int_arg(g0, 0, 10)  # 2: unknown (the pilot is at -12 V)
    codes = {0: CODE_BY_PILOT[PilotState.A], 1: CODE_BY_PILOT[PilotState.B]}
    return evse, codes.get(connected if connected is not None else 2)


def heartbeat_interval_s(poll_interval_s: float) -> int:
    return max(1, math.ceil(poll_interval_s * HEARTBEAT_POLLS))


async def probe_features(
    line: Line, *, poll_interval_s: float, locked: bool, name: str
) -> Features:
    """Ask for each optional feature once and set it up: `$NK` or no answer means absent."""
    features = Features()
    reply = await _optional(line, "GV", name)
    if reply is not None and reply.ok:
        features.firmware = " ".join(reply.args)
    features.heartbeat = await _setup_heartbeat(line, poll_interval_s, name)
    g5 = await _optional(line, "G5", name)
    features.lock = g5 is not None and g5.ok and await _setup_lock(line, locked, name)
    log.info(
        "%s: EVSE controller firmware %s; heartbeat supervision %s; cable lock %s",
        name,
        features.firmware or "unknown",
        f"every {heartbeat_interval_s(poll_interval_s)} s" if features.heartbeat else "absent",
        "present" if features.lock else "absent",
    )
    return features


async def restore_features(
    line: Line, features: Features, *, poll_interval_s: float, locked: bool, name: str
) -> None:
    """Set the present features up again (the controller may have lost them); one that is
    refused now counts as absent from now on."""
    if features.heartbeat:
        features.heartbeat = await _setup_heartbeat(line, poll_interval_s, name)
    if features.lock:
        features.lock = await _setup_lock(line, locked, name)


async def _setup_heartbeat(line: Line, poll_interval_s: float, name: str) -> bool:
    reply = await _optional(line, f"SY {heartbeat_interval_s(poll_interval_s)} {MIN_OFFER_A}", name)
    return reply is not None and reply.ok


async def _setup_lock(line: Line, locked: bool, name: str) -> bool:
    """Manual mode (volatile: the firmware boots in automatic mode), then the position."""
    for command in ("S5 M", f"S5 {1 if locked else 0}"):
        reply = await _optional(line, command, name)
        if reply is None or not reply.ok:
            log.warning("%s: the controller refused %r: no cable lock to drive", name, command)
            return False
    return True


async def _optional(line: Line, command: str, name: str) -> RapiFrame | None:
    """The reply to an optional command; None when unanswered (taken as absent: real
    firmware answers `$NK` to what it lacks, and the hold-off is already in place)."""
    try:
        return await line.request(command)
    except NoAnswer:
        log.warning("%s: no answer to optional %r: taken as absent", name, command)
        return None
