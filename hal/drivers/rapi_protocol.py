"""OpenEVSE RAPI wire protocol: frames, checksums, state codes and the fault table.

Pure functions and tables, no I/O (the driver is hal/drivers/rapi.py). The firmware
reference is `rapi_proc.h` of the OpenEVSE firmware (RAPI 5.x).

Framing: `$CMD args :ss^CK\\r`; CK = XOR of every byte before `^`, the `$` included, as
two uppercase hex digits; `:ss` is an optional sequence id (01..FE) that the controller
echoes in its `$OK`/`$NK` reply, so a late reply is never taken for the next request's.
Sequence ids came with RAPI 3.0.0: older firmware replies without one, and takes `:ss` for
one more argument (so `SC amps V :ss` is refused there). Checksummed replies came with
RAPI 2.0.0; older replies carry none and are not understood here.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.interfaces import FaultCode, PilotState

# --- protocol: states and faults ----------------------------------------------------------

EVSE_SLEEPING = 0xFE
EVSE_DISABLED = 0xFF

# Pilot field of `$AT` / `$GS` (and the evsestate of states A..D).
PILOT_BY_CODE: dict[int, PilotState] = {
    0x01: PilotState.A,
    0x02: PilotState.B,
    0x03: PilotState.C,
    0x04: PilotState.D,
}
CODE_BY_PILOT: dict[PilotState, int] = {pilot: code for code, pilot in PILOT_BY_CODE.items()}


@dataclass(frozen=True)
class RapiFault:
    code: FaultCode
    description: str


# Fault evsestates and what they mean to OCPP: the only place that maps them.
FAULT_BY_STATE: dict[int, RapiFault] = {
    0x05: RapiFault(FaultCode.EVCommunicationError, "diode check failed"),
    0x06: RapiFault(FaultCode.GroundFailure, "GFCI tripped"),
    0x07: RapiFault(FaultCode.GroundFailure, "no ground"),
    0x08: RapiFault(FaultCode.PowerSwitchFailure, "stuck relay"),
    0x09: RapiFault(FaultCode.GroundFailure, "GFI self-test failed"),
    0x0A: RapiFault(FaultCode.HighTemperature, "over-temperature"),
    0x0B: RapiFault(FaultCode.OverCurrentFailure, "over-current"),
    0x0E: RapiFault(FaultCode.PowerSwitchFailure, "relay closure fault"),
}

VFLAG_CHARGING_ON = 0x0040  # the relay is closed
VFLAG_EV_CONNECTED = 0x0100

# Evsestates in which no EV can draw: asleep, disabled, or a fault (the relay is open).
HELD_OFF_STATES: frozenset[int] = frozenset({EVSE_SLEEPING, EVSE_DISABLED, *FAULT_BY_STATE})

HEARTBEAT_ACK_COOKIE = 165  # `$SY 165` acknowledges a missed heartbeat pulse
MIN_OFFER_A = 6  # IEC 61851-1 / J1772: less is no offer

# --- protocol: frames ---------------------------------------------------------------------


class FrameError(ValueError):
    """A line from the serial port is not a RAPI frame."""


class ChecksumError(FrameError):
    """A RAPI frame whose checksum does not match its content."""


@dataclass(frozen=True)
class RapiFrame:
    """One RAPI frame: `command` is the two letters after `$` (`OK`, `NK`, `AT`, `GS`, ...)."""

    command: str
    args: tuple[str, ...] = ()
    seq: int | None = None

    @property
    def ok(self) -> bool:
        return self.command == "OK"

    @property
    def is_reply(self) -> bool:
        return self.command in ("OK", "NK")


def checksum(data: bytes) -> int:
    """XOR of every byte (the RAPI `^` checksum)."""
    chk = 0
    for byte in data:
        chk ^= byte
    return chk


def frame(command: str, seq: int | None) -> bytes:
    """Encode `command` ("GS", "SC 16 V", or a reply "OK 16") with an optional sequence id."""
    if not command or not command.isascii() or any(c in command for c in "$^:\r\n*"):
        raise ValueError(f"not a RAPI command: {command!r}")
    body = "$" + command
    if seq is not None:
        if not 0 < seq < 0xFF:
            raise ValueError(f"RAPI sequence id must be 01..FE, not {seq}")
        body += f" :{seq:02X}"
    raw = body.encode("ascii")
    return raw + f"^{checksum(raw):02X}\r".encode("ascii")


def parse(line: bytes) -> RapiFrame:
    """Decode one frame (the trailing CR optional); FrameError / ChecksumError if it is none."""
    line = line.rstrip(b"\r\n")
    if not line.startswith(b"$"):
        raise FrameError(f"no '$' at the start of {line!r}")
    body, caret, chk = line.rpartition(b"^")
    if not caret:
        raise FrameError(f"no '^' checksum in {line!r}")
    try:
        expected = int(chk, 16)
    except ValueError:
        raise FrameError(f"checksum {chk!r} is not hex in {line!r}") from None
    if len(chk) != 2 or checksum(body) != expected:
        raise ChecksumError(f"bad checksum in {line!r}: computed {checksum(body):02X}")
    try:
        text = body[1:].decode("ascii")
    except UnicodeDecodeError:
        raise FrameError(f"not ASCII: {line!r}") from None
    tokens = text.split()
    if not tokens or len(tokens[0]) != 2 or not tokens[0].isalnum():
        raise FrameError(f"no two-letter command in {line!r}")
    seq = None
    if len(tokens) > 1 and tokens[-1].startswith(":"):
        try:
            seq = int(tokens[-1][1:], 16)
        except ValueError:
            raise FrameError(f"bad sequence id in {line!r}") from None
        tokens.pop()
    return RapiFrame(tokens[0].upper(), tuple(tokens[1:]), seq)


def int_arg(f: RapiFrame, index: int, base: int) -> int | None:
    """Argument `index` of a reply as an integer, None when missing or not a number."""
    try:
        return int(f.args[index], base)
    except (IndexError, ValueError):
        return None
