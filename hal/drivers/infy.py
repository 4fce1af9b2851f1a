"""InfyPower REG/CEG DC power modules over CAN: the `PowerModule` driver (docs: HARDWARE.md).

The protocol itself (ids, payload codecs, status faults) is in hal/drivers/infy_protocol.py,
the bus (frames out, replies matched to requests) in hal/drivers/infy_bus.py; `InfyPower`
here is what the daemon sees, the poll that keeps the modules on, and their faults.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from hal.drivers.infy_bus import InfyBus, ModuleSilentError
from hal.drivers.infy_protocol import (
    CONTROLLER_ADDRESS,
    STATUS_FAULTS,
    Capabilities,
    Command,
    StatusBit,
    decode_capabilities,
    decode_module_count,
    decode_output,
    decode_status,
    encode_setpoint,
    encode_switch,
    split_current,
)
from hal.drivers.power_stage import MISSED_POLLS_FOR_SILENCE, PowerFaults, check_setpoint
from hal.interfaces import DeviceError, EventSink, FaultCode, PowerReading

log = logging.getLogger(__name__)


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
        self.modules = list(modules)
        self.poll_interval_s = poll_interval_s
        self.bus = InfyBus(
            connector,
            interface=interface,
            channel=channel,
            bitrate=bitrate,
            modules=self.modules,
            controller_address=controller_address,
            reply_timeout_s=reply_timeout_s,
            bus_options=bus_options or {},
        )
        self._poll_task: asyncio.Task[None] | None = None
        self._capabilities: dict[int, Capabilities] = {}
        self._missed: dict[int, int] = dict.fromkeys(self.modules, 0)
        self._outputs: dict[int, tuple[float, float]] = {}
        self._setpoints: dict[int, tuple[float, float]] = {}
        # Active faults by source ((module, status bit name) or (module, "silent")).
        self._faults = PowerFaults(connector, log=log)
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
        return self._faults.codes

    # --- PowerModule -----------------------------------------------------------------------

    async def start(self, emit: EventSink) -> None:
        """Open the bus, switch every module off, read capabilities, start polling.

        Raises DeviceError when the bus cannot be opened. A module that does not answer
        is reported by the poll (as silent) rather than failing the start.
        """
        self._faults.emit = emit
        await self.bus.open()
        # A daemon restarted after a crash may find the modules still on.
        await self._switch_all(False, strict=False)
        await asyncio.gather(*(self._refresh_capabilities(m) for m in self.modules))
        await self._check_module_count()
        self._poll_task = asyncio.get_running_loop().create_task(
            self._poll_forever(), name=f"infy-{self.connector}"
        )

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
        if self.bus.is_open:
            await self._switch_all(False, strict=False)
        await self.bus.close()
        self._faults.emit = None

    async def switch(self, on: bool) -> None:
        """Switch every module on or off.

        Switching on is refused (DeviceError) while a fault is active; if a module
        rejects it or does not answer, all are switched off again and DeviceError says why.
        """
        if on:
            self._faults.refuse_switch_on("power modules")
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
        check_setpoint(voltage_v, current_a)
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
                self.bus.request(m, Command.SET_OUTPUT, encode_setpoint(voltage_v, share))
                for m, share in zip(self.modules, shares, strict=True)
            )
        )
        for module, share in zip(self.modules, shares, strict=True):
            self._setpoints[module] = (voltage_v, share)

    async def read(self) -> PowerReading:
        """Output voltage (highest module) and total current, read from every module now."""
        replies = await asyncio.gather(*(self.bus.request(m, Command.OUTPUT) for m in self.modules))
        outputs = [decode_output(data) for data in replies]
        for module, output in zip(self.modules, outputs, strict=True):
            self._outputs[module] = output
        return PowerReading(
            voltage_v=max(v for v, _ in outputs), current_a=sum(a for _, a in outputs)
        )

    async def module_count(self, module: int | None = None) -> int:
        """The number of modules in the group, as `module` (default: the first) sees it."""
        address = self.modules[0] if module is None else module
        data = await self.bus.request(address, Command.MODULE_COUNT)
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
            self.bus.request(module, Command.OUTPUT),
            self.bus.request(module, Command.STATUS),
            return_exceptions=True,
        )
        if isinstance(output, ModuleSilentError) and isinstance(status, ModuleSilentError):
            self._missed[module] += 1
            if self._missed[module] >= MISSED_POLLS_FOR_SILENCE:
                self._raise((module, "silent"), FaultCode.InternalError, "silent")
            return
        self._missed[module] = 0
        if self._faults.clear((module, "silent")) and not self._on:
            # It may have kept its output on while we could not reach it.
            self.bus.send_nowait(module, Command.SWITCH, encode_switch(False))
        if module not in self._capabilities:
            await self._refresh_capabilities(module)
        if isinstance(output, bytes):
            self._outputs[module] = decode_output(output)
        if isinstance(status, bytes):
            bits = decode_status(status)
            self._apply_status(module, bits)
            if not self._on and StatusBit.DC_OFF not in bits:
                # Meant to be off (by us, or by a fault) but still on: say it again.
                self.bus.send_nowait(module, Command.SWITCH, encode_switch(False))

    def _apply_status(self, module: int, bits: frozenset[StatusBit]) -> None:
        for bit, (code, info) in STATUS_FAULTS.items():
            if bit in bits:
                self._raise((module, bit.name), code, info)
            else:
                self._faults.clear((module, bit.name))

    def _raise(self, source: tuple[int, str], code: FaultCode, info: str) -> None:
        module, _ = source
        text = f"power module {module} {info}"
        if self._faults.raise_(source, code, text):
            self._trip(text)

    def _trip(self, reason: str) -> None:
        """Switch every module off at once, without waiting for any answer."""
        log.warning("connector %s: all power modules off: %s", self.connector, reason)
        self._on = False
        for module in self.modules:
            self.bus.send_nowait(module, Command.SWITCH, encode_switch(False))

    async def _refresh_capabilities(self, module: int) -> None:
        try:
            data = await self.bus.request(module, Command.CAPABILITIES)
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
            *(self.bus.request(m, Command.SWITCH, encode_switch(on)) for m in self.modules),
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
