"""The station's devices as the daemon runs them: started (and tried again while they cannot
be opened), their meters polled, a DC connector's power module following the offer, and
everything switched off when the daemon stops. A part of `Daemon` (a mixin)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

from hal.interfaces import (
    ConnectorHardware,
    DeviceError,
    EventSink,
    FaultCleared,
    FaultCode,
    FaultRaised,
    HalEvent,
    MeterReading,
    PowerModule,
    PowerReading,
)

from . import logs
from .config import Config
from .core.model import TransactionEnded
from .core.station import Station

log = logging.getLogger("chargerd")
T = TypeVar("T")

DEVICE_RETRY_S = 5.0  # how often a device that could not be opened is tried again


class Devices:
    # what the daemon provides
    config: Config
    station: Station
    hardware: dict[int, ConnectorHardware]
    device_problems: logs.DeviceProblems  # logged once each, not every retry
    # told of each good meter reading after the core had it (variable monitors)
    meter_listeners: list[Callable[[int, MeterReading, float], None]]
    # (connector, fault code) -> the device that raised it: chargerctl status names it
    fault_devices: dict[tuple[int, str], Any]
    dc_output: dict[int, PowerReading]  # last reading of each DC connector
    feed: Callable[[Callable[[float], Any]], Awaitable[Any]]
    emit: Callable[[HalEvent], None]
    _spawn: Callable[[Any], None]

    async def _start_hardware(self) -> None:
        for hw in self.hardware.values():
            for device in (hw.controller, hw.meter, hw.power):
                if device is not None and not await self._start_device(hw.connector, device):
                    self._spawn(self._keep_starting(hw.connector, device))
            if hw.reader is not None:  # it reports ReaderFailure and retries by itself
                await hw.reader.start(self._sink_of(hw.reader))

    async def _start_device(self, connector: int, device: Any, first: bool = True) -> bool:
        """Start a device; one that cannot be opened faults its connector, not the daemon."""
        try:
            await device.start(self._sink_of(device))
        except (DeviceError, OSError) as exc:
            self.device_problems.failed(connector, type(device).__name__, f"cannot start: {exc}")
            if first:
                self._sink_of(device)(FaultRaised(connector, FaultCode.InternalError, str(exc)))
            return False
        return True

    def _sink_of(self, device: Any) -> EventSink:
        """`emit`, remembering which device raised each fault."""

        def sink(event: HalEvent) -> None:
            if isinstance(event, FaultRaised):
                self.fault_devices[(event.connector, str(event.code))] = device
            self.emit(event)

        return sink

    async def _keep_starting(self, connector: int, device: Any) -> None:
        while not await self._start_device(connector, device, first=False):
            await asyncio.sleep(DEVICE_RETRY_S)
        self.device_problems.recovered(connector, type(device).__name__)
        self.emit(FaultCleared(connector, FaultCode.InternalError))

    async def _read_meters(self) -> None:
        for connector, hw in self.hardware.items():
            if hw.power is not None:
                await self._read_power(connector, hw.power)
            meter = type(hw.meter).__name__
            try:
                reading = await hw.meter.read()
            except DeviceError as exc:
                self.device_problems.failed(connector, meter, str(exc))
                await self.feed(
                    lambda now, c=connector, e=exc: self.station.meter_failed(c, str(e), now)
                )
                continue
            self.device_problems.recovered(connector, meter)
            await self.feed(lambda now, c=connector, r=reading: self.station.meter_read(c, r, now))
            for listener in self.meter_listeners:
                listener(connector, reading, time.time())

    async def _read_power(self, connector: int, power: PowerModule) -> None:
        """The DC output for chargerctl status; a module that does not answer faults the
        connector through its driver, here it only leaves the output unknown."""
        try:
            self.dc_output[connector] = await power.read()
        except DeviceError:
            self.dc_output.pop(connector, None)

    async def _dc_setpoint(self, hw: ConnectorHardware, connector: int, amps: float) -> None:
        """The power module's output for an offer, within the connector's DC limits."""
        assert hw.power is not None
        volts = hw.dc_target_voltage_v or 400.0
        limits = next(c for c in self.config.connectors if c.id == connector)
        await hw.power.set_output(volts, limits.dc_current_a(amps, volts))

    async def _final_reading(self, d: TransactionEnded, hw: ConnectorHardware) -> TransactionEnded:
        """meterStop from the register as it stands now that the power is off, rather than
        from the last poll (up to a tick old)."""
        try:
            reading = await hw.meter.read()
        except DeviceError:
            return d  # the last good reading stands (a dead meter ends sessions too)
        self.station.meter_read(hw.connector, reading, time.time())
        return replace(d, meter_stop_wh=max(d.meter_stop_wh, round(reading.energy_wh)),
                       reading=reading)  # fmt: skip

    async def _switch_off(self) -> None:
        """Nobody will watch the power once the daemon has stopped: switch it off."""
        for hw in self.hardware.values():
            try:
                if hw.power is not None:
                    await hw.power.switch(False)
                await hw.controller.set_contactor(False)
                await hw.controller.offer_current(0)
            except DeviceError as exc:
                log.error("connector %d: could not switch off: %s", hw.connector, exc)
            for device in (hw.controller, hw.meter, hw.power, hw.reader):
                if device is not None:
                    await device.stop()
