"""InfyPower REG/CEG protocol V1.13 without I/O: the 29-bit id layout, the payload codecs
and the status-bit → fault table. Used by the driver (hal/drivers/infy.py) and the
simulator (hal/sim/infy_module.py).

Id layout (CAN 2.0B extended): bits 28–26 error code · 25–22 device number (0x0A one
module, 0x0B group) · 21–16 command · 15–8 destination · 7–0 source. Replies swap
destination and source. Data is always 8 bytes, multi-byte values big-endian.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import NamedTuple

from hal.interfaces import FaultCode

# --- protocol: ids ---------------------------------------------------------------------

CONTROLLER_ADDRESS = 0xF0
BROADCAST_ADDRESS = 0x3F
DEVICE_SINGLE = 0x0A  # the frame addresses one module
DEVICE_GROUP = 0x0B  # the frame addresses a group of modules
FRAME_LENGTH = 8
ZERO_DATA = bytes(FRAME_LENGTH)


class Command(IntEnum):
    """Commands of protocol V1.13 this driver uses."""

    MODULE_COUNT = 0x02  # read: number of modules in the group (byte 2)
    OUTPUT = 0x03  # read: output voltage and current (float32, float32)
    STATUS = 0x04  # read: status bits (bytes 5–7)
    CAPABILITIES = 0x0A  # read: u16 max V, u16 min V, u16 max I ×0.1 A, u16 rated ×10 W
    SWITCH = 0x1A  # write: byte 0 0x00 on, 0x01 off
    SET_OUTPUT = 0x1C  # write: u32 mV, u32 mA


class ErrorCode(IntEnum):
    """Bits 28–26 of a reply id."""

    NORMAL = 0
    COMMAND_INVALID = 2
    DATA_INVALID = 3
    START_IN_PROGRESS = 7


class FrameId(NamedTuple):
    """The fields of a 29-bit InfyPower id."""

    command: int
    destination: int
    source: int
    device: int = DEVICE_SINGLE
    error: int = ErrorCode.NORMAL


def pack_id(
    command: int,
    destination: int,
    source: int,
    *,
    device: int = DEVICE_SINGLE,
    error: int = ErrorCode.NORMAL,
) -> int:
    """The 29-bit arbitration id of a frame; ValueError when a field does not fit."""
    for name, value, bits in (
        ("error", error, 3),
        ("device", device, 4),
        ("command", command, 6),
        ("destination", destination, 8),
        ("source", source, 8),
    ):
        if not 0 <= value < 1 << bits:
            raise ValueError(f"{name} {value:#x} does not fit in {bits} bits")
    return error << 26 | device << 22 | command << 16 | destination << 8 | source


def unpack_id(can_id: int) -> FrameId:
    """The fields of a 29-bit arbitration id."""
    if not 0 <= can_id < 1 << 29:
        raise ValueError(f"{can_id:#x} is not a 29-bit id")
    return FrameId(
        command=can_id >> 16 & 0x3F,
        destination=can_id >> 8 & 0xFF,
        source=can_id & 0xFF,
        device=can_id >> 22 & 0x0F,
        error=can_id >> 26 & 0x07,
    )


def reply_id(request: FrameId, *, error: int = ErrorCode.NORMAL) -> int:
    """The id a module answers `request` with: same command, addresses swapped."""
    return pack_id(
        request.command, request.source, request.destination, device=request.device, error=error
    )


# --- protocol: payloads ----------------------------------------------------------------


@dataclass(frozen=True)
class Capabilities:
    """What one module can deliver (command 0x0A)."""

    max_voltage_v: float
    min_voltage_v: float
    max_current_a: float
    rated_power_w: float

    def current_limit_a(self, voltage_v: float) -> float:
        """The most current the module gives at `voltage_v` (current and power limits)."""
        if voltage_v <= 0:
            return self.max_current_a
        return min(self.max_current_a, self.rated_power_w / voltage_v)


def _check_length(data: bytes | bytearray) -> None:
    if len(data) != FRAME_LENGTH:
        raise ValueError(f"InfyPower frames carry {FRAME_LENGTH} data bytes, got {len(data)}")


def encode_module_count(count: int) -> bytes:
    return bytes([0, 0, count, 0, 0, 0, 0, 0])


def decode_module_count(data: bytes | bytearray) -> int:
    _check_length(data)
    return data[2]


def encode_output(voltage_v: float, current_a: float) -> bytes:
    """Reply to 0x03: float32 volts, float32 amps."""
    return struct.pack(">ff", voltage_v, current_a)


def decode_output(data: bytes | bytearray) -> tuple[float, float]:
    """(volts, amps) of a 0x03 reply."""
    _check_length(data)
    voltage_v, current_a = struct.unpack(">ff", bytes(data))
    return voltage_v, current_a


def encode_capabilities(caps: Capabilities) -> bytes:
    """Reply to 0x0A: u16 max V, u16 min V, u16 max I in 0.1 A, u16 rated power in 10 W."""
    return struct.pack(
        ">HHHH",
        round(caps.max_voltage_v),
        round(caps.min_voltage_v),
        round(caps.max_current_a * 10),
        round(caps.rated_power_w / 10),
    )


def decode_capabilities(data: bytes | bytearray) -> Capabilities:
    _check_length(data)
    max_v, min_v, max_i, power = struct.unpack(">HHHH", bytes(data))
    return Capabilities(float(max_v), float(min_v), max_i / 10, power * 10.0)


def encode_switch(on: bool) -> bytes:
    """Payload of 0x1A."""
    return bytes([0x00 if on else 0x01]) + bytes(7)


def decode_switch(data: bytes | bytearray) -> bool:
    """True for "on"; ValueError for anything but 0x00/0x01 in byte 0."""
    _check_length(data)
    if data[0] not in (0x00, 0x01):
        raise ValueError(f"switch byte {data[0]:#04x} is neither 0x00 (on) nor 0x01 (off)")
    return data[0] == 0x00


def encode_setpoint(voltage_v: float, current_a: float) -> bytes:
    """Payload of 0x1C: u32 millivolts, u32 milliamps."""
    millivolts, milliamps = round(voltage_v * 1000), round(current_a * 1000)
    if not (0 <= millivolts < 1 << 32 and 0 <= milliamps < 1 << 32):
        raise ValueError(f"setpoint {voltage_v} V / {current_a} A out of range")
    return struct.pack(">II", millivolts, milliamps)


def decode_setpoint(data: bytes | bytearray) -> tuple[float, float]:
    """(volts, amps) of a 0x1C payload."""
    _check_length(data)
    millivolts, milliamps = struct.unpack(">II", bytes(data))
    return millivolts / 1000, milliamps / 1000


class StatusBit(Enum):
    """Status bits of a 0x04 reply; the value is (byte, bit)."""

    OUTPUT_SHORT = (7, 0)
    SLEEPING = (7, 4)
    DISCHARGE_ABNORMAL = (7, 5)
    DC_OFF = (6, 0)
    FAULT = (6, 1)
    PROTECTION = (6, 2)
    FAN_FAULT = (6, 3)
    OVER_TEMPERATURE = (6, 4)
    OUTPUT_OVER_VOLTAGE = (6, 5)
    WALK_IN = (6, 6)
    COMM_INTERRUPTED = (6, 7)
    POWER_LIMITED = (5, 0)
    ID_REPEATED = (5, 1)
    LOAD_SHARING = (5, 2)
    PHASE_LOST = (5, 3)
    INPUT_UNBALANCED = (5, 4)
    INPUT_UNDER_VOLTAGE = (5, 5)
    INPUT_OVER_VOLTAGE = (5, 6)
    PFC_OFF = (5, 7)

    @property
    def byte(self) -> int:
        return self.value[0]

    @property
    def bit(self) -> int:
        return self.value[1]

    @classmethod
    def at(cls, byte: int, bit: int) -> StatusBit | None:
        """The named bit at (byte, bit); None for a reserved position."""
        return _STATUS_BY_POSITION.get((byte, bit))


_STATUS_BY_POSITION = {member.value: member for member in StatusBit}


def encode_status(bits: set[StatusBit] | frozenset[StatusBit]) -> bytes:
    data = bytearray(FRAME_LENGTH)
    for status in bits:
        data[status.byte] |= 1 << status.bit
    return bytes(data)


def decode_status(data: bytes | bytearray) -> frozenset[StatusBit]:
    """The named status bits set in a 0x04 reply (reserved bits are ignored)."""
    _check_length(data)
    return frozenset(s for s in StatusBit if data[s.byte] >> s.bit & 1)


# Status bits that are faults, with the code reported for them. The others (sleeping,
# DC side off, walk-in, power limited, load sharing, PFC side off, communication
# interrupted) describe normal operation; a module that lost us also goes silent, which
# the driver detects by itself. A fan fault is reported as HighTemperature: without
# its fan the module overheats, and the station must react the same way.
STATUS_FAULTS: dict[StatusBit, tuple[FaultCode, str]] = {
    StatusBit.OUTPUT_SHORT: (FaultCode.OverCurrentFailure, "output short circuit"),
    StatusBit.DISCHARGE_ABNORMAL: (FaultCode.InternalError, "discharge abnormal"),
    StatusBit.FAULT: (FaultCode.InternalError, "module fault"),
    StatusBit.PROTECTION: (FaultCode.InternalError, "module protection"),
    StatusBit.FAN_FAULT: (FaultCode.HighTemperature, "fan fault"),
    StatusBit.OVER_TEMPERATURE: (FaultCode.HighTemperature, "over-temperature"),
    StatusBit.OUTPUT_OVER_VOLTAGE: (FaultCode.OverVoltage, "output over-voltage"),
    StatusBit.ID_REPEATED: (FaultCode.InternalError, "module address used twice"),
    StatusBit.PHASE_LOST: (FaultCode.UnderVoltage, "input phase lost"),
    StatusBit.INPUT_UNBALANCED: (FaultCode.OtherError, "input unbalanced"),
    StatusBit.INPUT_UNDER_VOLTAGE: (FaultCode.UnderVoltage, "input under-voltage"),
    StatusBit.INPUT_OVER_VOLTAGE: (FaultCode.OverVoltage, "input over-voltage"),
}


def split_current(total_a: float, limits_a: Sequence[float]) -> list[float]:
    """Share `total_a` evenly over modules, none above its limit.

    A module that cannot take its even share gives the rest to the others; when the
    limits add up to less than `total_a` every module gets its limit.
    """
    shares = [0.0] * len(limits_a)
    remaining = max(0.0, total_a)
    order = sorted(range(len(limits_a)), key=lambda i: limits_a[i])
    for left, index in zip(range(len(order), 0, -1), order, strict=True):
        shares[index] = min(limits_a[index], remaining / left)
        remaining -= shares[index]
    return shares
