"""Simulated InfyPower modules (protocol V1.13) on a real CAN transport.

`InfyModuleSim` answers reads (0x02, 0x03, 0x04, 0x0A) and obeys writes (0x1A, 0x1C)
like a group of modules would, with replies on swapped addresses and error codes for
what a module rejects. Two transports:

- any python-can interface (`virtual` for tests in one process: give the driver the
  same channel name);
- `slcan`: the simulator plays a Lawicel USB adapter on the master side of a pty
  (hal/sim/slcan.py), and a driver in any process opens `.port` (the slave path) with
  `interface="slcan"`.

Fault injection: `set_status_bit`, `clear_status`, `go_silent`. A module switches its
output off after `silence_timeout_s` without traffic, like the real ones do after ~10 s.

Run `python -m hal.sim.infy_module --modules 0 1` to serve an slcan pty for another
process; it prints the port path and serves until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import can

from hal.drivers.infy_bus import CanForwarder
from hal.drivers.infy_protocol import (
    BROADCAST_ADDRESS,
    DEVICE_GROUP,
    DEVICE_SINGLE,
    FRAME_LENGTH,
    Capabilities,
    Command,
    ErrorCode,
    FrameId,
    StatusBit,
    decode_setpoint,
    decode_switch,
    encode_capabilities,
    encode_module_count,
    encode_output,
    encode_status,
    reply_id,
    unpack_id,
)
from hal.sim.slcan import SlcanAdapter

log = logging.getLogger(__name__)

# A REG1K0100G-like module: 1000 V, 50 A... but 30 kW, so full current only up to 600 V.
DEFAULT_CAPABILITIES = Capabilities(
    max_voltage_v=1000.0, min_voltage_v=150.0, max_current_a=50.0, rated_power_w=30000.0
)


@dataclass
class _Ramp:
    """A value moving linearly from `start` to `target` over `duration_s` from `since`."""

    start: float = 0.0
    target: float = 0.0
    since: float = 0.0

    def value(self, now: float, duration_s: float) -> float:
        if duration_s <= 0 or now - self.since >= duration_s:
            return self.target
        return self.start + (self.target - self.start) * max(0.0, now - self.since) / duration_s

    def retarget(self, target: float, now: float, duration_s: float) -> None:
        self.start = self.value(now, duration_s)
        self.target = target
        self.since = now


class SimModule:
    """One simulated module: what it was told, what it outputs, the status it shows.

    The sim's load takes all the current the module offers, so the output current
    ramps to the current setpoint (capped by max current and rated power).
    """

    def __init__(
        self,
        address: int,
        capabilities: Capabilities,
        *,
        silence_timeout_s: float,
        ramp_s: float,
        now: float,
    ) -> None:
        self.address = address
        self.capabilities = capabilities
        self.silence_timeout_s = silence_timeout_s
        self.ramp_s = ramp_s
        self.on = False
        self.voltage_setpoint_v = 0.0
        self.current_setpoint_a = 0.0
        self.injected: set[tuple[int, int]] = set()  # status (byte, bit) set by a test
        self.silent = False
        self.comm_interrupted = False
        self.timeouts = 0  # how often the module switched itself off for lack of traffic
        self.last_traffic = now
        self._voltage = _Ramp(since=now)
        self._current = _Ramp(since=now)

    @property
    def current_limit_a(self) -> float:
        return min(
            self.current_setpoint_a, self.capabilities.current_limit_a(self.voltage_setpoint_v)
        )

    def tick(self, now: float) -> None:
        """Apply the silence timeout up to `now`."""
        off_at = self.last_traffic + self.silence_timeout_s
        if self.on and now > off_at:
            self.on = False
            self.comm_interrupted = True
            self.timeouts += 1
            self._retarget(off_at)

    def heard(self, now: float) -> None:
        """Traffic for this module arrived at `now`."""
        self.tick(now)
        self.last_traffic = now
        self.comm_interrupted = False

    def switch(self, on: bool, now: float) -> None:
        self.on = on
        self._retarget(now)

    def set_output(self, voltage_v: float, current_a: float, now: float) -> None:
        self.voltage_setpoint_v = voltage_v
        self.current_setpoint_a = min(current_a, self.capabilities.max_current_a)
        self._retarget(now)

    def output(self, now: float) -> tuple[float, float]:
        """(volts, amps) at the output terminals."""
        self.tick(now)
        return self._voltage.value(now, self.ramp_s), self._current.value(now, self.ramp_s)

    def status_bits(self, now: float) -> set[StatusBit]:
        self.tick(now)
        bits = {bit for bit in (StatusBit.at(*position) for position in self.injected) if bit}
        if not self.on:
            bits.add(StatusBit.DC_OFF)
        if self.comm_interrupted:
            bits.add(StatusBit.COMM_INTERRUPTED)
        if self.on and self.current_limit_a < self.current_setpoint_a:
            bits.add(StatusBit.POWER_LIMITED)
        return bits

    def status(self, now: float) -> bytes:
        data = bytearray(encode_status(self.status_bits(now)))
        for byte, bit in self.injected:  # reserved positions too: the test asked for them
            data[byte] |= 1 << bit
        return bytes(data)

    def _retarget(self, at: float) -> None:
        volts, amps = (self.voltage_setpoint_v, self.current_limit_a) if self.on else (0.0, 0.0)
        self._voltage.retarget(volts, at, self.ramp_s)
        self._current.retarget(amps, at, self.ramp_s)


class InfyModuleSim:
    """One or more simulated InfyPower modules sharing one CAN bus.

    `interface="slcan"` serves an slcan adapter on a pty (`.port` is the path to open);
    any other python-can interface name opens `can.Bus(interface, channel)`.
    `capabilities` is one value for all modules or one per address.
    """

    def __init__(
        self,
        modules: Sequence[int] = (0,),
        *,
        interface: str = "virtual",
        channel: str | None = "infy-sim",
        capabilities: Capabilities | Mapping[int, Capabilities] = DEFAULT_CAPABILITIES,
        silence_timeout_s: float = 10.0,
        ramp_s: float = 0.05,
        bus_options: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not modules:
            raise ValueError("a simulated group needs at least one module")
        self.interface = interface
        self.channel = channel
        self.bus_options = dict(bus_options or {})
        self._clock = clock
        now = clock()
        self._modules: dict[int, SimModule] = {}
        for address in modules:
            caps = (
                capabilities
                if isinstance(capabilities, Capabilities)
                else capabilities.get(address, DEFAULT_CAPABILITIES)
            )
            self._modules[address] = SimModule(
                address, caps, silence_timeout_s=silence_timeout_s, ramp_s=ramp_s, now=now
            )
        # Every frame addressed to a module, as (id fields, data): for tests to inspect.
        self.received: deque[tuple[FrameId, bytes]] = deque(maxlen=10000)
        self.port: str | None = None  # slcan: the pty slave path a driver opens
        self.adapter = SlcanAdapter(self.handle_frame)  # serves the pty with interface slcan
        self._bus: can.BusABC | None = None
        self._notifier: can.Notifier | None = None

    # --- fault injection and inspection --------------------------------------------------

    def module(self, address: int) -> SimModule:
        """The state of the module at `address`, brought up to now."""
        module = self._modules[address]
        module.tick(self._clock())
        return module

    @property
    def addresses(self) -> list[int]:
        return list(self._modules)

    def set_status_bit(self, module: int, byte: int, bit: int, value: bool = True) -> None:
        """Show (or hide) status bit `bit` of byte `byte` in `module`'s 0x04 replies."""
        if not (0 <= byte < FRAME_LENGTH and 0 <= bit < 8):
            raise ValueError(f"no status bit {bit} in byte {byte}")
        position = (byte, bit)
        if value:
            self._modules[module].injected.add(position)
        else:
            self._modules[module].injected.discard(position)

    def clear_status(self, module: int | None = None) -> None:
        """Remove the injected status bits of `module`, or of every module."""
        for address in self._modules if module is None else [module]:
            self._modules[address].injected.clear()

    def go_silent(self, module: int, silent: bool = True) -> None:
        """A silent module neither hears nor answers (a cut cable, a dead controller)."""
        self._modules[module].silent = silent

    def setpoints(self, module: int) -> list[tuple[float, float]]:
        """Every 0x1C payload `module` received, decoded to (volts, amps), oldest first."""
        return [
            decode_setpoint(data)
            for frame, data in self.received
            if frame.command == Command.SET_OUTPUT and frame.destination == module
        ]

    # --- protocol --------------------------------------------------------------------------

    def handle_frame(self, can_id: int, data: bytes | bytearray) -> list[tuple[int, bytes]]:
        """Apply one frame from the bus; the (id, data) replies to send back."""
        frame = unpack_id(can_id)
        broadcast = frame.device == DEVICE_GROUP or frame.destination == BROADCAST_ADDRESS
        if broadcast:
            targets = list(self._modules.values())
        elif frame.device == DEVICE_SINGLE and frame.destination in self._modules:
            targets = [self._modules[frame.destination]]
        else:
            return []
        now = self._clock()
        self.received.append((frame, bytes(data)))
        replies = []
        for module in targets:
            if module.silent:
                continue
            module.heard(now)
            error, payload = self._execute(module, frame.command, bytes(data), now)
            if not broadcast:  # group commands are not answered
                replies.append((reply_id(frame, error=error), payload))
        return replies

    def _execute(
        self, module: SimModule, command: int, data: bytes, now: float
    ) -> tuple[int, bytes]:
        if len(data) != FRAME_LENGTH:
            return ErrorCode.DATA_INVALID, data.ljust(FRAME_LENGTH, b"\0")[:FRAME_LENGTH]
        caps = module.capabilities
        if command == Command.MODULE_COUNT:
            return ErrorCode.NORMAL, encode_module_count(len(self._modules))
        if command == Command.OUTPUT:
            return ErrorCode.NORMAL, encode_output(*module.output(now))
        if command == Command.STATUS:
            return ErrorCode.NORMAL, module.status(now)
        if command == Command.CAPABILITIES:
            return ErrorCode.NORMAL, encode_capabilities(caps)
        if command == Command.SWITCH:
            try:
                on = decode_switch(data)
            except ValueError:
                return ErrorCode.DATA_INVALID, data
            module.switch(on, now)
            return ErrorCode.NORMAL, data
        if command == Command.SET_OUTPUT:
            volts, amps = decode_setpoint(data)
            if volts > caps.max_voltage_v or 0 < volts < caps.min_voltage_v:
                return ErrorCode.DATA_INVALID, data
            module.set_output(volts, amps, now)
            return ErrorCode.NORMAL, data
        return ErrorCode.COMMAND_INVALID, data

    # --- transports --------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the transport; from now on the modules answer."""
        if self.interface == "slcan":
            self.adapter.start()
            self.port = self.adapter.port
            return
        self._bus = await asyncio.to_thread(
            can.Bus, interface=self.interface, channel=self.channel, **self.bus_options
        )
        forwarder = CanForwarder(asyncio.get_running_loop(), self._on_message, logger=log)
        self._notifier = can.Notifier(self._bus, [forwarder], timeout=0.02)

    async def stop(self) -> None:
        if self._notifier is not None:
            await asyncio.to_thread(self._notifier.stop, 1.0)
            self._notifier = None
        if self._bus is not None:
            await asyncio.to_thread(self._bus.shutdown)
            self._bus = None
        self.adapter.stop()

    def _on_message(self, msg: can.Message) -> None:
        if not msg.is_extended_id or msg.is_remote_frame or msg.is_error_frame:
            return
        bus = self._bus
        if bus is None:
            return
        for can_id, data in self.handle_frame(msg.arbitration_id, msg.data):
            # The virtual bus queues without blocking; this runs on the loop.
            bus.send(can.Message(arbitration_id=can_id, is_extended_id=True, data=data))


async def _serve(args: argparse.Namespace) -> None:
    sim = InfyModuleSim(
        args.modules,
        interface=args.interface,
        channel=args.channel,
        silence_timeout_s=args.silence_timeout,
    )
    await sim.start()
    print(sim.port or f"{args.interface}:{args.channel}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    try:
        await stopped.wait()
    finally:
        await sim.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """Serve simulated modules; prints the pty path (slcan) and runs until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description="Serve simulated InfyPower modules.")
    parser.add_argument("--modules", type=int, nargs="+", default=[0])
    parser.add_argument("--interface", default="slcan")
    parser.add_argument("--channel", default=None)
    parser.add_argument("--silence-timeout", type=float, default=10.0)
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
