"""A simulated OpenEVSE controller on a real pty with a started RAPI driver on it, for the
tests/test_rapi*.py modules (no mocks: the driver talks to the device over the pty)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hal.drivers.rapi import RapiController
from hal.interfaces import FaultCode, FaultRaised, HalEvent, PilotChanged, PilotState
from hal.sim.rapi_device import RapiDevice

TIMEOUT_S = 0.2
WAIT_S = 3.0  # the longest any wait may take


class Events:
    """Event sink that a test can wait on."""

    def __init__(self) -> None:
        self.items: list[HalEvent] = []
        self._arrived = asyncio.Event()

    def __call__(self, event: HalEvent) -> None:
        self.items.append(event)
        self._arrived.set()

    async def wait_for(self, match: Callable[[HalEvent], bool]) -> HalEvent:
        async with asyncio.timeout(WAIT_S):
            while True:
                for event in self.items:
                    if match(event):
                        return event
                self._arrived.clear()
                await self._arrived.wait()

    async def wait(self, expected: HalEvent) -> None:
        await self.wait_for(lambda event: event == expected)

    async def fault_raised(self, code: FaultCode) -> FaultRaised:
        event = await self.wait_for(lambda e: isinstance(e, FaultRaised) and e.code is code)
        assert isinstance(event, FaultRaised)
        return event


@dataclass
class Rig:
    device: RapiDevice
    controller: RapiController
    events: Events

    def commands(self) -> list[str]:
        """What the device received, as `CMD args` text."""
        return [" ".join((f.command, *f.args)) for f in self.device.received]

    async def until(self, predicate: Callable[[], bool], timeout: float = WAIT_S) -> None:
        await self.device.wait_until(predicate, timeout)

    async def charging(self, amps: float = 16) -> None:
        self.device.plug()
        await self.controller.offer_current(amps)
        await self.events.wait(PilotChanged(1, PilotState.C))
        await self.until(lambda: self.device.controller.current_a > 0)


RigFactory = Callable[..., Awaitable[Rig]]


@contextlib.asynccontextmanager
async def rigs() -> AsyncIterator[RigFactory]:
    """Builds devices and started drivers on them; `device_*` keywords go to the device,
    `silent=True` starts the driver against a device that does not answer; all are stopped
    at the end."""
    started: list[tuple[RapiDevice, RapiController]] = []

    async def build(*, silent: bool = False, **kwargs: Any) -> Rig:
        device_kw = {k[len("device_") :]: v for k, v in kwargs.items() if k.startswith("device_")}
        driver_kw = {k: v for k, v in kwargs.items() if not k.startswith("device_")}
        driver_kw.setdefault("timeout_s", TIMEOUT_S)
        device = RapiDevice(1, **device_kw)
        await device.start()
        device.go_silent(silent)
        controller = RapiController(1, port=device.port, **driver_kw)
        events = Events()
        started.append((device, controller))
        await controller.start(events)
        return Rig(device, controller, events)

    try:
        yield build
    finally:
        for device, controller in reversed(started):
            await controller.stop()
            await device.stop()
