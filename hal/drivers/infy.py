"""InfyPower REG/CEG DC power modules over CAN, protocol V1.13 (docs: HARDWARE.md).

The first half of this module is the protocol without I/O: the 29-bit id layout, the
payload codecs and the status-bit → fault table. The simulator (`hal.sim.infy_module`)
uses the same functions. The second half is `InfyPower`, the `PowerModule` driver.

Id layout (CAN 2.0B extended): bits 28–26 error code · 25–22 device number (0x0A one
module, 0x0B group) · 21–16 command · 15–8 destination · 7–0 source. Replies swap
destination and source. Data is always 8 bytes, multi-byte values big-endian.
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any, NamedTuple

import can

from hal.interfaces import (
    DeviceError,
    EventSink,
    FaultCleared,
    FaultCode,
    FaultRaised,
    PowerReading,
)

log = logging.getLogger(__name__)

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


# --- the driver ------------------------------------------------------------------------

MISSED_POLLS_FOR_SILENCE = 3
# How often python-can's reader thread looks up from an empty bus (bounds stop()).
RX_WAKEUP_S = 0.05


class ModuleSilentError(DeviceError):
    """A module did not answer within the reply timeout."""


class _FrameForwarder(can.Listener):
    """Hands every received frame from the python-can reader thread to the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, handler: Callable[[can.Message], None]):
        self._loop = loop
        self._handler = handler
        self._failing = False

    def on_message_received(self, msg: can.Message) -> None:
        self._failing = False
        try:
            self._loop.call_soon_threadsafe(self._handler, msg)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass

    def on_error(self, exc: Exception) -> None:
        # Handled here so the reader thread keeps going; the modules then look silent,
        # which the poll reports. The pause keeps a dead adapter from spinning the CPU.
        log.log(logging.DEBUG if self._failing else logging.WARNING, "CAN receive error: %s", exc)
        self._failing = True
        time.sleep(0.1)


class InfyPower:
    """PowerModule made of one or more InfyPower modules in parallel on one CAN bus.

    The bus is any python-can interface, named like python-can names it (`socketcan`
    with channel `can0` on a board, `slcan` with a serial port for a USB adapter,
    `virtual` in tests); `bus_options` go to `can.Bus` as they are (e.g.
    `{"sleep_after_open": 0}` for an slcan adapter that needs no settling time).

    From `start()` on every module is polled (V/I and status) every `poll_interval_s`:
    the modules switch their output off after about 10 s without traffic, and the poll
    is how faults are seen. A status fault, or a module that misses
    `MISSED_POLLS_FOR_SILENCE` polls in a row, is reported as `FaultRaised` and switches
    every module off; `FaultCleared` follows when the condition is gone. The output stays
    off until `switch(True)`, which is refused while a fault is active.
    """

    def __init__(
        self,
        connector: int,
        *,
        interface: str,
        channel: str,
        bitrate: int = 125000,
        modules: Sequence[int],
        controller_address: int = CONTROLLER_ADDRESS,
        poll_interval_s: float = 1.0,
        reply_timeout_s: float = 0.5,
        bus_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not modules:
            raise ValueError(f"connector {connector}: no power module addresses given")
        if len(set(modules)) != len(modules):
            raise ValueError(f"connector {connector}: module addresses repeat: {list(modules)}")
        for address in (*modules, controller_address):
            if not 0 <= address <= 0xFF:
                raise ValueError(f"connector {connector}: address {address} is not 0..255")
        if controller_address in modules:
            raise ValueError(f"connector {connector}: {controller_address:#x} is the controller")
        if not 0 < poll_interval_s <= 1.0:
            # The modules switch off after ~10 s of silence, and 3 missed polls are a fault.
            raise ValueError(f"poll_interval_s must be in (0, 1], got {poll_interval_s}")
        if reply_timeout_s <= 0:
            raise ValueError(f"reply_timeout_s must be positive, got {reply_timeout_s}")
        self.connector = connector
        self.interface = interface
        self.channel = channel
        self.bitrate = bitrate
        self.modules = list(modules)
        self._module_set = frozenset(self.modules)
        self.controller_address = controller_address
        self.poll_interval_s = poll_interval_s
        self.reply_timeout_s = reply_timeout_s
        self.bus_options = dict(bus_options or {})

        self._emit: EventSink | None = None
        self._bus: can.BusABC | None = None
        self._notifier: can.Notifier | None = None
        self._tx: ThreadPoolExecutor | None = None  # one thread: frames leave in order
        self._poll_task: asyncio.Task[None] | None = None
        self._waiters: dict[tuple[int, int], list[asyncio.Future[tuple[int, bytes]]]] = {}
        self._capabilities: dict[int, Capabilities] = {}
        self._missed: dict[int, int] = dict.fromkeys(self.modules, 0)
        self._outputs: dict[int, tuple[float, float]] = {}
        self._setpoints: dict[int, tuple[float, float]] = {}
        # Active faults by source ((module, status bit name) or (module, "silent")).
        self._faults: dict[tuple[int, str], tuple[FaultCode, str]] = {}
        self._on = False

    # --- what the driver knows -----------------------------------------------------------

    @property
    def is_on(self) -> bool:
        """Whether the output is meant to be on (False after a fault switched it off)."""
        return self._on

    @property
    def capabilities(self) -> dict[int, Capabilities]:
        """Capabilities of every module that has answered 0x0A, by address."""
        return dict(self._capabilities)

    @property
    def setpoints(self) -> dict[int, tuple[float, float]]:
        """The (volts, amps) last accepted by each module."""
        return dict(self._setpoints)

    @property
    def outputs(self) -> dict[int, tuple[float, float]]:
        """The (volts, amps) of each module at the last poll or read."""
        return dict(self._outputs)

    @property
    def active_faults(self) -> set[FaultCode]:
        return {code for code, _ in self._faults.values()}

    # --- PowerModule -----------------------------------------------------------------------

    async def start(self, emit: EventSink) -> None:
        """Open the bus, switch every module off, read capabilities, start polling.

        Raises DeviceError when the bus cannot be opened. A module that does not answer
        is reported by the poll (as silent) rather than failing the start.
        """
        loop = asyncio.get_running_loop()
        self._emit = emit
        self._tx = ThreadPoolExecutor(1, thread_name_prefix=f"infy-{self.connector}-tx")
        try:
            # Off the loop: opening an slcan adapter sleeps (sleep_after_open).
            self._bus = await loop.run_in_executor(self._tx, self._open_bus)
        except (can.CanError, OSError, ValueError, ImportError) as exc:
            self._tx.shutdown(wait=False)
            self._tx = None
            raise DeviceError(
                f"connector {self.connector}: cannot open CAN bus {self.interface} "
                f"{self.channel}: {exc}"
            ) from exc
        self._notifier = can.Notifier(
            self._bus, [_FrameForwarder(loop, self._on_frame)], timeout=RX_WAKEUP_S
        )
        # A daemon restarted after a crash may find the modules still on.
        await self._switch_all(False, strict=False)
        await asyncio.gather(*(self._refresh_capabilities(m) for m in self.modules))
        await self._check_module_count()
        self._poll_task = loop.create_task(self._poll_forever(), name=f"infy-{self.connector}")

    async def stop(self) -> None:
        """Switch every module off and close the bus."""
        if self._poll_task is not None:
            self._poll_task.cancel()
            try:
                await self._poll_task
            except asyncio.CancelledError:
                pass
            self._poll_task = None
        self._on = False
        if self._bus is not None:
            await self._switch_all(False, strict=False)
        if self._notifier is not None:
            await asyncio.to_thread(self._notifier.stop, 1.0)
            self._notifier = None
        if self._bus is not None and self._tx is not None:
            await asyncio.get_running_loop().run_in_executor(self._tx, self._bus.shutdown)
            self._bus = None
        if self._tx is not None:
            self._tx.shutdown(wait=False)
            self._tx = None
        self._emit = None

    async def switch(self, on: bool) -> None:
        """Switch every module on or off.

        Switching on is refused (DeviceError) while a fault is active; if a module
        rejects it or does not answer, all are switched off again and DeviceError says why.
        """
        if on and self._faults:
            raise DeviceError(
                f"connector {self.connector}: power modules not switched on, active faults: "
                + "; ".join(text for _, text in self._faults.values())
            )
        self._on = on
        try:
            await self._switch_all(on, strict=True)
        except DeviceError:
            if on:
                self._trip("a module did not switch on")
            raise
        if on and self._faults:  # a poll saw a fault while we were switching on
            self._trip("fault during switch-on")
            raise DeviceError(f"connector {self.connector}: fault while switching on")

    async def set_output(self, voltage_v: float, current_a: float) -> None:
        """Set the output voltage, and the total current shared evenly over the modules.

        The current is capped per module by its maximum current and rated power at
        that voltage. ValueError for a voltage no module accepts (0 V is allowed);
        DeviceError when a module is silent or rejects the setpoint.
        """
        if not (math.isfinite(voltage_v) and math.isfinite(current_a)):
            raise ValueError(f"setpoint {voltage_v} V / {current_a} A is not a number")
        if voltage_v < 0 or current_a < 0:
            raise ValueError(f"setpoint {voltage_v} V / {current_a} A is negative")
        limits: list[float] = []
        for module in self.modules:
            caps = self._capabilities.get(module)
            if caps is None:
                raise DeviceError(
                    f"connector {self.connector}: capabilities of power module {module} "
                    "unknown (it has not answered)"
                )
            if voltage_v > caps.max_voltage_v or 0 < voltage_v < caps.min_voltage_v:
                raise ValueError(
                    f"{voltage_v} V outside power module {module}'s range "
                    f"{caps.min_voltage_v:g}–{caps.max_voltage_v:g} V"
                )
            limits.append(caps.current_limit_a(voltage_v))
        shares = split_current(current_a, limits)
        if sum(shares) < current_a - 1e-6:
            log.info(
                "connector %s: %.1f A asked, the modules give at most %.1f A at %.1f V",
                self.connector,
                current_a,
                sum(shares),
                voltage_v,
            )
        await asyncio.gather(
            *(
                self._request(m, Command.SET_OUTPUT, encode_setpoint(voltage_v, share))
                for m, share in zip(self.modules, shares, strict=True)
            )
        )
        for module, share in zip(self.modules, shares, strict=True):
            self._setpoints[module] = (voltage_v, share)

    async def read(self) -> PowerReading:
        """Output voltage (highest module) and total current, read from every module now."""
        replies = await asyncio.gather(*(self._request(m, Command.OUTPUT) for m in self.modules))
        outputs = [decode_output(data) for data in replies]
        for module, output in zip(self.modules, outputs, strict=True):
            self._outputs[module] = output
        return PowerReading(
            voltage_v=max(v for v, _ in outputs), current_a=sum(a for _, a in outputs)
        )

    async def module_count(self, module: int | None = None) -> int:
        """The number of modules in the group, as `module` (default: the first) sees it."""
        address = self.modules[0] if module is None else module
        data = await self._request(address, Command.MODULE_COUNT)
        return decode_module_count(data)

    # --- polling and faults --------------------------------------------------------------

    async def poll(self) -> None:
        """Read V/I and status of every module once; report and react to what changed."""
        await asyncio.gather(*(self._poll_module(m) for m in self.modules))

    async def _poll_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await self.poll()
            except Exception:  # the poll must outlive any surprise; it is the keep-alive
                log.exception("connector %s: power module poll failed", self.connector)
            await asyncio.sleep(max(0.0, self.poll_interval_s - (loop.time() - started)))

    async def _poll_module(self, module: int) -> None:
        output, status = await asyncio.gather(
            self._request(module, Command.OUTPUT),
            self._request(module, Command.STATUS),
            return_exceptions=True,
        )
        if isinstance(output, ModuleSilentError) and isinstance(status, ModuleSilentError):
            self._missed[module] += 1
            if self._missed[module] >= MISSED_POLLS_FOR_SILENCE:
                self._raise((module, "silent"), FaultCode.InternalError, "silent")
            return
        self._missed[module] = 0
        if self._clear((module, "silent")) and not self._on:
            # It may have kept its output on while we could not reach it.
            self._send_nowait(module, Command.SWITCH, encode_switch(False))
        if module not in self._capabilities:
            await self._refresh_capabilities(module)
        if isinstance(output, bytes):
            self._outputs[module] = decode_output(output)
        if isinstance(status, bytes):
            bits = decode_status(status)
            self._apply_status(module, bits)
            if not self._on and StatusBit.DC_OFF not in bits:
                # Meant to be off (by us, or by a fault) but still on: say it again.
                self._send_nowait(module, Command.SWITCH, encode_switch(False))

    def _apply_status(self, module: int, bits: frozenset[StatusBit]) -> None:
        for bit, (code, info) in STATUS_FAULTS.items():
            if bit in bits:
                self._raise((module, bit.name), code, info)
            else:
                self._clear((module, bit.name))

    def _raise(self, source: tuple[int, str], code: FaultCode, info: str) -> None:
        if source in self._faults:
            return
        module, _ = source
        text = f"power module {module} {info}"
        self._faults[source] = (code, text)
        log.warning("connector %s: %s (%s)", self.connector, text, code)
        if self._emit is not None:
            self._emit(FaultRaised(self.connector, code, text))
        self._trip(text)

    def _clear(self, source: tuple[int, str]) -> bool:
        """Forget the fault of `source`; True if there was one."""
        fault = self._faults.pop(source, None)
        if fault is None:
            return False
        code, text = fault
        log.info("connector %s: gone: %s", self.connector, text)
        if code not in self.active_faults and self._emit is not None:
            self._emit(FaultCleared(self.connector, code))
        return True

    def _trip(self, reason: str) -> None:
        """Switch every module off at once, without waiting for any answer."""
        log.warning("connector %s: all power modules off: %s", self.connector, reason)
        self._on = False
        for module in self.modules:
            self._send_nowait(module, Command.SWITCH, encode_switch(False))

    async def _refresh_capabilities(self, module: int) -> None:
        try:
            data = await self._request(module, Command.CAPABILITIES)
        except DeviceError as exc:
            log.warning("connector %s: %s", self.connector, exc)
            return
        self._capabilities[module] = decode_capabilities(data)

    async def _check_module_count(self) -> None:
        answering = [m for m in self.modules if m in self._capabilities]
        if not answering:
            return
        try:
            count = await self.module_count(answering[0])
        except DeviceError as exc:
            log.warning("connector %s: %s", self.connector, exc)
            return
        if count != len(self.modules):
            log.warning(
                "connector %s: the modules count %d in their group, configured are %d: %s",
                self.connector,
                count,
                len(self.modules),
                self.modules,
            )

    async def _switch_all(self, on: bool, *, strict: bool) -> None:
        results = await asyncio.gather(
            *(self._request(m, Command.SWITCH, encode_switch(on)) for m in self.modules),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        for error in errors:
            if not isinstance(error, DeviceError):
                raise error
        if errors and strict:
            raise DeviceError("; ".join(str(e) for e in errors))
        for error in errors:
            log.warning("connector %s: %s", self.connector, error)

    # --- frames --------------------------------------------------------------------------

    def _open_bus(self) -> can.BusABC:
        return can.Bus(
            interface=self.interface,
            channel=self.channel,
            bitrate=self.bitrate,
            **self.bus_options,
        )

    def _message(self, module: int, command: int, data: bytes) -> can.Message:
        return can.Message(
            arbitration_id=pack_id(command, module, self.controller_address),
            is_extended_id=True,
            data=data,
        )

    def _send_nowait(self, module: int, command: int, data: bytes) -> None:
        if self._bus is not None and self._tx is not None:
            self._tx.submit(self._send_logged, self._bus, self._message(module, command, data))

    def _send_logged(self, bus: can.BusABC, msg: can.Message) -> None:
        try:
            bus.send(msg, timeout=self.reply_timeout_s)
        except can.CanError as exc:
            log.error("connector %s: CAN send failed: %s", self.connector, exc)

    async def _request(self, module: int, command: int, data: bytes = ZERO_DATA) -> bytes:
        """Send one frame to `module` and return the data of its reply.

        ModuleSilentError when no reply comes within the reply timeout; DeviceError when
        the module answers with an error code or the frame cannot be sent.
        """
        if self._bus is None or self._tx is None:
            raise DeviceError(f"connector {self.connector}: power modules not started")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        key = (module, command)
        self._waiters.setdefault(key, []).append(future)
        try:
            msg = self._message(module, command, data)
            try:
                await loop.run_in_executor(self._tx, self._bus.send, msg, self.reply_timeout_s)
            except can.CanError as exc:
                raise DeviceError(
                    f"connector {self.connector}: cannot send to power module {module}: {exc}"
                ) from exc
            try:
                error, reply = await asyncio.wait_for(future, self.reply_timeout_s)
            except TimeoutError:
                raise ModuleSilentError(
                    f"power module {module} did not answer command {command:#04x} "
                    f"within {self.reply_timeout_s:g} s"
                ) from None
        finally:
            waiting = self._waiters.get(key)
            if waiting is not None and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del self._waiters[key]
        if error != ErrorCode.NORMAL:
            try:
                meaning = ErrorCode(error).name.lower().replace("_", " ")
            except ValueError:
                meaning = f"error code {error}"
            raise DeviceError(f"power module {module} rejected command {command:#04x}: {meaning}")
        return reply

    def _on_frame(self, msg: can.Message) -> None:
        """A received frame, on the event loop: resolve whoever waits for it."""
        if not msg.is_extended_id or msg.is_error_frame or msg.is_remote_frame:
            return
        frame = unpack_id(msg.arbitration_id)
        if frame.destination != self.controller_address or frame.source not in self._module_set:
            return
        for future in self._waiters.pop((frame.source, frame.command), []):
            if not future.done():
                future.set_result((frame.error, bytes(msg.data)))
