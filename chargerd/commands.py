"""What `chargerctl` asks of a running daemon: its status and the simulator's commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hal.registry import device_config

from . import technician, version

if TYPE_CHECKING:
    from .daemon import Daemon


def status(daemon: Daemon) -> dict[str, Any]:
    """`chargerctl status`: connectors, transactions, link, outbox."""
    connectors = []
    for c in daemon.station.connectors.values():
        reading = daemon.station.readings.get(c.id)
        entry: dict[str, Any] = {
            "id": c.id,
            "status": str(c.status),
            "error_code": c.error_code,
            "pilot": str(c.pilot),
            "offered_a": c.offered_a,
            "energy_wh": round(reading.energy_wh) if reading else None,
            "power_w": round(reading.power_w) if reading else None,
            "dc": _dc_output(daemon, c.id),
            "fault": _fault(daemon, c.id, c.faults),
            "faults": _faults(daemon, c.id, c.faults),
            # a device problem that leaves the connector usable (a dead card reader)
            "warning": _fault(daemon, c.id, c.warnings),
            "transaction": None,
        }
        tx = c.transaction
        if tx is not None:
            entry["transaction"] = {
                **daemon.adapter.transaction_facts(tx.id),
                "station_id": tx.id,
                "id_tag": tx.id_tag,
                "started_at": tx.started_at,
                "meter_start_wh": tx.meter_start_wh,
                "energy_wh": (round(reading.energy_wh) if reading else tx.last_meter_wh)
                - tx.meter_start_wh,
            }
        connectors.append(entry)
    result = {
        "station": daemon.config.station.id,
        "version": version(),
        "link": {
            "state": daemon.link.state,
            "url": daemon.link.settings.url,
            "last_error": daemon.link.last_error,
        },  # fmt: skip
        **daemon.adapter.describe(),
        "outbox_thinned": daemon.store.outbox_thinned,
        "connectors": connectors,
    }
    for part in daemon.parts.values():
        part.status(result)
    return result


def _dc_output(daemon: Daemon, connector: int) -> dict[str, float | None] | None:
    """What a DC connector's power modules put out (None for AC); unknown values are None
    until the modules answer."""
    hw = daemon.hardware.get(connector)
    if hw is None or hw.power is None:
        return None
    output = daemon.dc_output.get(connector)
    if output is None:
        return {"voltage_v": None, "current_a": None, "power_w": None}
    return {
        "voltage_v": round(output.voltage_v, 1),
        "current_a": round(output.current_a, 1),
        "power_w": round(output.voltage_v * output.current_a),
    }


ROLES = ("controller", "meter", "power", "reader")


def _fault(daemon: Daemon, connector: int, faults: dict[str, str]) -> dict[str, str] | None:
    """The connector's first fault: its code, which device raised it and why (None: none)."""
    found = _faults(daemon, connector, faults)
    return found[0] if found else None


def _faults(daemon: Daemon, connector: int, faults: dict[str, str]) -> list[dict[str, str]]:
    """Each fault of the connector, oldest first."""
    return [_device_fault(daemon, connector, code, reason) for code, reason in faults.items()]


def _device_fault(daemon: Daemon, connector: int, code: str, reason: str) -> dict[str, str]:
    hw = daemon.hardware.get(connector)
    raised_by = daemon.fault_devices.get((connector, code))
    role = next((r for r in ROLES if raised_by is not None and getattr(hw, r, None) is raised_by),
                None)  # fmt: skip
    if role is None:  # faults the core itself derives from a device's readings
        role = "meter" if code == "PowerMeterFailure" else "controller"
    device = role
    setup = next((c for c in daemon.config.connectors if c.id == connector), None)
    if setup is not None and (found := device_config(setup, role, daemon.config.hal_driver)):
        device += f" ({found.driver}{_where(found.options)})"
    return {"code": code.removeprefix("pilot:"), "device": device, "reason": reason or code}


def _where(options: dict[str, Any]) -> str:
    """Where a device is wired: serial port, TCP address, CAN channel or input device."""
    if options.get("host"):
        return f" on {options['host']}:{options.get('port')}"
    for key in ("port", "channel", "device"):
        if options.get(key):
            return f" on {options[key]}"
    return ""


async def sim_command(daemon: Daemon, command: str, args: list[str]) -> str:
    """`chargerctl sim ...`: drive the simulated EV, card reader and faults."""
    if command == "tag":
        if len(args) not in (1, 3) or (len(args) == 3 and args[1] != "--connector"):
            raise ValueError("usage: tag ID [--connector N]")
        connector = int(args[2]) if len(args) == 3 and args[2].isdigit() else None
        if len(args) == 3 and connector not in daemon.station.connectors:
            raise ValueError(f"no connector {args[2]}; this station has 1..{len(daemon.hardware)}")
        return f"tag {args[0]}: " + await technician.present_tag(daemon, args[0], connector)
    if daemon.sim is None:
        raise ValueError(
            "this station runs real hardware: sim commands need hal.driver: sim or sim.wire: true"
        )
    actions: dict[str, Callable[..., None]] = {
        "plug": daemon.sim.plug,
        "unplug": daemon.sim.unplug,
        "ev-pause": daemon.sim.ev_pause,
        "ev-resume": daemon.sim.ev_resume,
        "fault": daemon.sim.fault,
        "clear": daemon.sim.clear,
        "meter-fail": daemon.sim.meter_fail,
        "meter-restore": daemon.sim.meter_restore,
    }
    site: dict[str, Callable[..., None]] = {  # the simulated grid meter (site.meter: sim)
        "house-load": daemon.sim.house_load,
        "grid-meter-fail": daemon.sim.grid_meter_fail,
        "grid-meter-restore": daemon.sim.grid_meter_restore,
    }
    if command in site:
        if len(args) != (command == "house-load"):
            raise ValueError(f"usage: {command}{' AMPS' if command == 'house-load' else ''}")
        site[command](*args)
        return f"{' '.join([command, *args])}: done"
    if command == "tamper":  # the enclosure's tamper switch, a HAL input on a real board
        if args:
            raise ValueError("usage: tamper")
        switch = getattr(daemon.sim, "tamper", None)  # a HAL input: TamperDetected
        if switch is not None:
            switch()
        else:  # the wire-level simulators model no enclosure
            daemon.parts["security"].tamper("the simulated enclosure")  # type: ignore[attr-defined]
        return "tamper: done (TamperDetectionActivated recorded)"
    actions["ev-max"] = daemon.sim.ev_max
    bay = getattr(daemon.sim, "bay", None)  # real drivers (sim.wire: true) have no bay sensor
    if bay is not None:
        actions["bay"] = bay
    if command not in actions:
        known = ", ".join([*actions, *site])
        raise ValueError(f"unknown sim command {command!r}; known: tag, {known}")
    second = {"fault": " CODE", "bay": " occupied|free", "ev-max": " AMPS"}.get(command, "")
    usage = f"usage: {command} N{second}"
    if len(args) != (2 if second else 1) or not args[0].isdigit():
        raise ValueError(usage)
    actions[command](int(args[0]), *args[1:])
    return f"{command} {' '.join(args)}: done"
