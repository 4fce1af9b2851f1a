"""Build each connector's devices from the validated config (see hal/registry.py).

With `sim: {wire: true}` the same real drivers are built, but pointed at wire-level
simulators started here in-process (a RAPI controller on a pty, Modbus meter servers,
InfyPower modules on a virtual CAN bus, a PN532 card reader on a pty), so the exact code
that runs on a board runs in CI, and `chargerctl sim` drives the simulated EV behind the
wire.
"""

from __future__ import annotations

import logging
from typing import Any

from hal.checks import check_combinations
from hal.interfaces import ConnectorHardware, FaultCode
from hal.registry import Hardware, device_config

__all__ = ["HardwareConfigError", "WireSimulation", "build", "check_combinations"]

log = logging.getLogger(__name__)


class HardwareConfigError(ValueError):
    """A combination of devices that cannot work; the message says which and why."""


# RAPI evse states a simulated controller can show for a fault code (HARDWARE.md).
RAPI_FAULT_STATES = {
    FaultCode.EVCommunicationError: 0x05,
    FaultCode.GroundFailure: 0x06,
    FaultCode.PowerSwitchFailure: 0x08,
    FaultCode.HighTemperature: 0x0A,
    FaultCode.OverCurrentFailure: 0x0B,
}


class WireSimulation:
    """The simulated devices behind the wires, and the controls `chargerctl sim` uses."""

    def __init__(self, config: Any):
        from hal.sim.station import SimulatedStation

        self.config = config
        # the physics: an EV and an energy register per connector
        self.world = SimulatedStation.from_config(config)
        self.rapi: dict[int, Any] = {}
        self.meter_servers: dict[int, tuple[Any, int]] = {}
        self.pn532: dict[int, Any] = {}
        self.closers: list[Any] = []

    async def rapi_device(self, connector: int) -> Any:
        from hal.sim.rapi_device import RapiDevice

        device = RapiDevice(controller=self.world.controller(connector))
        await device.start()
        self.rapi[connector] = device
        self.closers.append(device.stop)
        return device

    async def pn532_device(self, connector: int) -> Any:
        """A PN532 on a pty for the connector's reader (`pn532[connector].put_card()`)."""
        from hal.sim.pn532_device import Pn532Device

        device = Pn532Device()
        await device.start()
        self.pn532[connector] = device
        self.closers.append(device.stop)
        return device

    async def meter_server(self, connector: int, options: dict[str, Any]) -> dict[str, Any]:
        """Start a meter server for `connector`; the options the driver must use instead."""
        from hal.sim.modbus_meter_server import ModbusMeterServer

        tcp = "host" in options
        server = ModbusMeterServer(transport="tcp" if tcp else "rtu")
        server.add_meter(options["unit"], options["model"], self.world.meter(connector))
        await server.start()
        self.closers.append(server.stop)
        self.closers.append(self.world.meter(connector).stop)  # saves the register
        self.meter_servers[connector] = (server, options["unit"])
        if tcp:
            return {**options, "host": "127.0.0.1", "port": server.port}
        return {**options, "port": server.port}

    # --- chargerctl sim -----------------------------------------------------------------

    def _ev(self, n: int) -> Any:
        return self.rapi.get(n) or self.world.controller(n)

    def plug(self, n: int) -> None:
        self.world.controller(n)  # validates n
        self._ev(n).plug()

    def unplug(self, n: int) -> None:
        self.world.controller(n)
        self._ev(n).unplug()

    def ev_pause(self, n: int) -> None:
        self.world.controller(n)
        self._ev(n).ev_pause()

    def ev_resume(self, n: int) -> None:
        self.world.controller(n)
        self._ev(n).ev_resume()

    def fault(self, n: int, code: str) -> None:
        if n not in self.rapi:
            self.world.fault(n, code)
            return
        state = RAPI_FAULT_STATES.get(FaultCode(code)) if code in FaultCode.__members__ else None
        if state is None:
            allowed = ", ".join(str(c) for c in RAPI_FAULT_STATES)
            raise ValueError(f"a RAPI controller cannot show {code!r}; allowed: {allowed}")
        self.rapi[n].fault(state)

    def clear(self, n: int) -> None:
        if n in self.rapi:
            self.rapi[n].clear()
        else:
            self.world.clear(n)

    def meter_fail(self, n: int) -> None:
        self._meter_server(n, silent=True)

    def meter_restore(self, n: int) -> None:
        self._meter_server(n, silent=False)

    def ev_max(self, n: int, amps: str) -> None:
        self.world.ev_max(n, amps)  # the RAPI device's EV is the world's controller

    def house_load(self, amps: str) -> None:
        self.world.house_load(amps)

    def grid_meter_fail(self) -> None:
        self.world.grid_meter_fail()

    def grid_meter_restore(self) -> None:
        self.world.grid_meter_restore()

    def _meter_server(self, n: int, silent: bool) -> None:
        if n in self.meter_servers:
            server, unit = self.meter_servers[n]
            server.go_silent(unit, silent)
        elif silent:
            self.world.meter_fail(n)
        else:
            self.world.meter_restore(n)


async def build(config: Any) -> Hardware:
    problems = check_combinations(config)
    if problems:
        raise HardwareConfigError("; ".join(str(problem) for problem in problems))
    hardware = Hardware([])
    try:
        await _build_into(hardware, config)
    except BaseException:
        await hardware.close()  # nothing half-built stays open (ports, buses, simulators)
        raise
    return hardware


async def _build_into(hardware: Hardware, config: Any) -> None:
    from hal.sim.station import SimulatedStation

    wire = WireSimulation(config) if config.sim.wire else None
    simulated: SimulatedStation | None = None
    if wire is not None:
        hardware.sim = wire
        hardware.closers.append(lambda: _close_all(wire.closers))
    for c in config.connectors:
        controller_cfg = device_config(c, "controller", config.hal_driver)
        meter_cfg = device_config(c, "meter", config.hal_driver)
        power_cfg = device_config(c, "power", config.hal_driver)
        assert controller_cfg is not None and meter_cfg is not None
        if "sim" in (controller_cfg.driver, meter_cfg.driver) and simulated is None:
            simulated = wire.world if wire is not None else SimulatedStation.from_config(config)
            hardware.sim = hardware.sim or simulated
        controller = await _controller(c, controller_cfg, simulated, wire)
        meter = await _meter(c, meter_cfg, simulated, wire, hardware)
        power = await _power(c, power_cfg, wire, hardware) if power_cfg else None
        target = power_cfg.options.get("target_voltage_v") if power_cfg else None
        reader_cfg = device_config(c, "reader", config.hal_driver)
        reader = await _reader(c, reader_cfg, wire) if reader_cfg else None
        display_cfg = device_config(c, "display", config.hal_driver)
        display = _display(c, display_cfg, controller) if display_cfg else None
        hardware.connectors.append(
            ConnectorHardware(c.id, controller, meter, power, target, reader=reader,
                              display=display)  # fmt: skip
        )

    if getattr(config, "station_display", None) is not None:  # only `sim` at station level
        from hal.sim.display import SimDisplay

        hardware.station_display = SimDisplay(0)
    site = getattr(config, "site", None)
    if site is not None and site.meter is not None:
        hardware.site_meter = await _site_meter(site.meter, simulated, wire, hardware, config)


async def _site_meter(
    cfg: Any, simulated: Any, wire: WireSimulation | None, hardware: Hardware, config: Any
) -> Any:
    """The grid meter (`site.meter`): any meter driver; `sim` is the simulated grid meter
    that sees the house load and the simulated EVs."""
    from hal.sim.station import SimulatedStation

    world = simulated or (wire.world if wire is not None else None)
    if world is None and cfg.driver == "sim":
        world = SimulatedStation.from_config(config)
        hardware.sim = hardware.sim or world
    if cfg.driver == "sim":
        return world.grid_meter
    from hal.drivers.modbus_meter import ModbusMeter

    options = dict(cfg.options)
    if wire is not None:  # a Modbus server in front of the simulated grid meter
        from hal.sim.modbus_meter_server import ModbusMeterServer

        server = ModbusMeterServer(transport="tcp")
        server.add_meter(options["unit"], options["model"], wire.world.grid_meter)
        await server.start()
        wire.closers.append(server.stop)
        options = {**options, "host": "127.0.0.1", "port": server.port}
    bus = _bus(options)
    hardware.closers.append(bus.close)
    return ModbusMeter(0, model=options["model"], bus=bus, unit=options["unit"])


def _display(c: Any, cfg: Any, controller: Any) -> Any:
    if cfg.driver == "sim":
        from hal.sim.display import SimDisplay

        return SimDisplay(c.id)
    from hal.drivers.rapi_display import RapiDisplay

    return RapiDisplay(controller, page_s=cfg.options["page_s"])  # shares its serial line


async def _reader(c: Any, cfg: Any, wire: WireSimulation | None) -> Any:
    if cfg.driver == "evdev":
        if wire is not None:  # no simulated input device: cards come from `chargerctl sim tag`
            log.info("connector %d: sim.wire: the evdev card reader is left out", c.id)
            return None
        from hal.drivers.evdev_reader import EvdevReader

        return EvdevReader(c.id, cfg.options["device"])
    from hal.drivers.pn532 import Pn532Reader

    options = dict(cfg.options)
    if wire is not None:
        options["port"] = (await wire.pn532_device(c.id)).port
    return Pn532Reader(
        c.id,
        options["port"],
        baudrate=options["baudrate"],
        timeout_s=options["timeout_s"],
        poll_interval_s=options["poll_interval_s"],
    )


async def _close_all(closers: list[Any]) -> None:
    for close in reversed(closers):
        await close()


async def _controller(c: Any, cfg: Any, simulated: Any, wire: WireSimulation | None) -> Any:
    if cfg.driver == "sim":
        return simulated.controller(c.id)
    from hal.drivers.rapi import RapiController

    options = dict(cfg.options)
    if wire is not None:
        options["port"] = (await wire.rapi_device(c.id)).port
    return RapiController(
        c.id,
        port=options["port"],
        baudrate=options["baudrate"],
        timeout_s=options["timeout_s"],
        poll_interval_s=options["poll_interval_s"],
        max_current_a=c.max_current_a,
    )


def _bus(options: dict[str, Any]) -> Any:
    from hal.drivers.modbus_bus import ModbusBus

    if "host" in options:
        return ModbusBus.for_tcp(
            options["host"], options.get("port", 502), timeout_s=options["timeout_s"]
        )
    return ModbusBus.for_serial(
        options["port"],
        baudrate=options["baudrate"],
        parity=options["parity"],
        stopbits=options["stopbits"],
        timeout_s=options["timeout_s"],
    )


async def _meter(
    c: Any, cfg: Any, simulated: Any, wire: WireSimulation | None, hardware: Hardware
) -> Any:
    if cfg.driver == "sim":
        return simulated.meter(c.id)
    from hal.drivers.modbus_meter import ModbusMeter

    options = dict(cfg.options)
    if wire is not None:
        options = await wire.meter_server(c.id, options)
    bus = _bus(options)
    hardware.closers.append(bus.close)
    return ModbusMeter(c.id, model=options["model"], bus=bus, unit=options["unit"])


async def _power(c: Any, cfg: Any, wire: WireSimulation | None, hardware: Hardware) -> Any:
    options = dict(cfg.options)
    if cfg.driver == "infy":
        from hal.drivers.infy import InfyPower

        if wire is not None:
            from hal.sim.infy_module import InfyModuleSim

            channel = f"chargerd-sim-{c.id}"
            sim = InfyModuleSim(interface="virtual", channel=channel, modules=options["modules"])
            await sim.start()
            wire.closers.append(sim.stop)
            options.update(interface="virtual", channel=channel)
        return InfyPower(
            c.id,
            interface=options["interface"],
            channel=options["channel"],
            bitrate=options["bitrate"],
            modules=options["modules"],
            poll_interval_s=options["poll_interval_s"],
        )
    from hal.drivers.modbus_power import ModbusPowerStage

    if wire is not None:
        from hal.sim.modbus_power_server import ModbusPowerServer

        server = ModbusPowerServer(transport="tcp")
        server.add_stage(options["unit"], options["model"])
        await server.start()
        wire.closers.append(server.stop)
        options = {**options, "host": "127.0.0.1", "port": server.port}
    bus = _bus(options)
    hardware.closers.append(bus.close)
    return ModbusPowerStage(c.id, model=options["model"], bus=bus, unit=options["unit"])
