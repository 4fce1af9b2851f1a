"""Smart charging as the hardware obeys it: the real daemon with simulated hardware, the dev
CSMS, `chargerctl limit`, the site's load balancing with a simulated grid meter.

What is watched is what the EV gets: `chargerctl status` (offered_a, limit_a, limit_source)
and the simulated EV's draw (the meter's power), plus the statuses the CSMS is told.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chargerd import technician
from chargerd.config import load_config
from chargerd.ctl import request
from chargerd.daemon import Daemon
from devcsms import Csms, Csms201
from hal.registry import build_hardware

from .conftest import POLL_S, STATION_ID, WAIT_S, Station, wait_call, wait_until
from .conftest201 import Station201
from .test_wire import DC_CONNECTOR, wire_up
from .wire_station import wire_station

VOLTS = 230.0


def configure(station: Station, **sections: Any) -> Station:
    """Make `station` write a config with these extra top-level sections (e.g. site)."""
    base = station.config

    def config() -> dict[str, Any]:
        return {**base(), **sections}

    station.config = config  # type: ignore[method-assign]
    return station


async def ctl(station: Station, command: str, *args: str) -> dict[str, Any]:
    message = {"cmd": command, "args": list(args)}
    return await asyncio.to_thread(request, str(station.socket), message, 5)


async def limit(station: Station, *args: str) -> str:
    answer = await ctl(station, "limit", *args)
    assert answer.get("ok"), answer
    return answer["message"]


async def wait_connector(
    station: Station, n: int, what: str, timeout: float = WAIT_S, **fields: Any
) -> dict[str, Any]:
    """Poll chargerctl status until connector `n` shows every one of `fields`."""
    deadline = time.monotonic() + timeout
    while True:
        c = await station.connector(n)
        if all(c.get(k) == v for k, v in fields.items()):
            return c
        if time.monotonic() > deadline:
            raise TimeoutError(f"connector {n} not {what} after {timeout} s: {c}")
        await asyncio.sleep(POLL_S)


async def wait_draw(station: Station, n: int, amps: float, timeout: float = WAIT_S) -> None:
    """The simulated EV on `n` draws `amps` per phase (its meter's power, 3 phases)."""
    deadline = time.monotonic() + timeout
    while True:
        c = await station.connector(n)
        drawn = (c["power_w"] or 0) / (3 * VOLTS)
        if abs(drawn - amps) < 0.1:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"connector {n} draws {drawn:.1f} A, not {amps} A: {c}")
        await asyncio.sleep(POLL_S)


# --- a limit below 6 A -------------------------------------------------------------------


async def test_a_limit_below_6_a_suspends_the_session_and_it_resumes(
    csms: Csms, station: Station
) -> None:
    await station.start()
    await station.start_session(1)
    after = len(csms.ledger.entries)
    await limit(station, "4", "--connector", "1")
    c = await wait_connector(station, 1, "held off", status="SuspendedEVSE", offered_a=0)
    assert c["limit_a"] == 4 and c["limit_source"] == "external"
    assert c["transaction"] is not None
    await wait_call(csms, "StatusNotification", after=after, connectorId=1, status="SuspendedEVSE")
    await wait_draw(station, 1, 0)
    assert not csms.ledger.transactions[next(iter(csms.ledger.transactions))].stop_timestamp

    after = len(csms.ledger.entries)
    await limit(station, "clear")
    c = await wait_connector(station, 1, "charging again", status="Charging", offered_a=32)
    assert c["limit_source"] == "connector"
    await wait_call(csms, "StatusNotification", after=after, connectorId=1, status="Charging")
    await wait_draw(station, 1, 32)


async def test_current_offered_in_meter_values_reports_the_limited_offer(
    csms: Csms, station: Station
) -> None:
    station.ocpp["MeterValuesSampledData"] = "Current.Offered,Current.Import,Power.Offered"
    await station.start()
    await station.start_session(1)
    after = len(csms.ledger.entries)
    await limit(station, "10", "--connector", "1")
    await wait_connector(station, 1, "at 10 A", offered_a=10)

    def offered(entry: Any) -> dict[str, float]:
        return {
            v["measurand"]: float(v["value"])
            for mv in entry.payload["meterValue"]
            for v in mv["sampledValue"]
            if v.get("measurand") in ("Current.Offered", "Power.Offered")
        }

    deadline = time.monotonic() + WAIT_S
    while True:
        found = [offered(e) for e in csms.ledger.entries[after:]
                 if e.direction == "in" and e.kind == "call" and e.action == "MeterValues"]
        if any(v.get("Current.Offered") == 10 for v in found):
            break
        assert time.monotonic() < deadline, f"no Current.Offered of 10 A in {found}"
        await asyncio.sleep(POLL_S)
    sample = next(v for v in found if v.get("Current.Offered") == 10)
    assert sample["Power.Offered"] == 10 * 3 * VOLTS  # the offer on each of the 3 phases


# --- external limits ---------------------------------------------------------------------


async def test_external_limits_combine_lowest_wins_and_survive_a_restart(
    csms: Csms, station: Station
) -> None:
    await station.start()
    await station.start_session(1)
    await station.start_session(2, "TAG2")
    await limit(station, "20")  # the whole station: a budget both sessions share
    await limit(station, "8", "--connector", "1", "--source", "SO")
    c1 = await wait_connector(station, 1, "at 8 A", offered_a=8)
    assert c1["limit_source"] == "external"
    c2 = await wait_connector(station, 2, "given the rest", offered_a=12)
    assert c2["limit_source"] == "external"
    await wait_draw(station, 1, 8)

    station.kill()  # a power cut: the limits are on disk
    await station.start()
    status = await station.status()
    assert status["smart"]["external"] == {
        "0": {"limit_a": 20, "source": "EMS"},
        "1": {"limit_a": 8, "source": "SO"},
    }

    await station.start_session(1)  # the killed sessions ended with PowerLoss; a new one
    c1 = await wait_connector(station, 1, "at 8 A after the restart", offered_a=8)
    assert c1["limit_source"] == "external"

    await limit(station, "clear", "--connector", "1")
    await wait_connector(station, 1, "at the station's 20 A", offered_a=20)
    assert await limit(station, "clear") == "external limit cleared: the station"
    await wait_connector(station, 1, "at its maximum", offered_a=32, limit_source="connector")


async def test_a_limit_with_a_bad_source_or_connector_is_refused(
    csms: Csms, station: Station
) -> None:
    await station.start()
    answer = await ctl(station, "limit", "10", "--source", "CSO")
    assert not answer["ok"] and "EMS, SO, Other" in answer["error"]
    answer = await ctl(station, "limit", "10", "--connector", "7")
    assert not answer["ok"] and "no connector 7" in answer["error"]
    answer = await ctl(station, "limit", "lots")
    assert not answer["ok"] and "not a current" in answer["error"]


# --- CSMS profiles --------------------------------------------------------------------------


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def test_a_period_boundary_reaches_the_controller_within_a_second(
    csms: Csms, station: Station
) -> None:
    await station.start()
    await station.start_session(1)
    start = time.time()
    profile = {
        "chargingProfileId": 7,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "startSchedule": _iso(start),
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 16},
                {"startPeriod": 3, "limit": 10},
            ],
        },
    }
    answer = await csms.call(
        STATION_ID, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile}
    )
    assert answer == {"status": "Accepted"}
    c = await wait_connector(station, 1, "at 16 A", timeout=1.0, offered_a=16)
    assert c["limit_source"] == "csms" and time.time() < start + 3
    answer = await ctl(station, "schedule", "--connector", "1", "--duration", "60", "--json")
    assert answer["ok"], answer
    schedule = json.loads(answer["message"])
    asked = datetime.fromisoformat(schedule["start"].replace("Z", "+00:00")).timestamp()
    assert schedule["connector"] == 1 and abs(asked - time.time()) < 2
    first, second = schedule["periods"]
    assert (first["start_s"], first["limit_a"], first["source"]) == (0, 16, "csms")
    assert second["start_s"] in (2, 3) and (second["limit_a"], second["source"]) == (10, "csms")
    boundary = start + 3
    await wait_until(lambda: time.time() >= boundary, "the period boundary", timeout=4)
    await wait_connector(station, 1, "at 10 A a second after the boundary", timeout=1.0,
                         offered_a=10)  # fmt: skip
    await wait_draw(station, 1, 10)


async def test_profiles_survive_kill_9_and_apply_while_offline(
    csms: Csms, station: Station
) -> None:
    await station.start()
    await station.start_session(1)  # online: the card gets cached for the offline session
    start = time.time()
    profile = {
        "chargingProfileId": 3,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "startSchedule": _iso(start),
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 12},
                                       {"startPeriod": 12, "limit": 8}],
        },
    }  # fmt: skip
    answer = await csms.call(
        STATION_ID, "SetChargingProfile", {"connectorId": 0, "csChargingProfiles": profile}
    )
    assert answer == {"status": "Accepted"}
    await wait_connector(station, 1, "at 12 A", offered_a=12)

    await station.wait_outbox(lambda depth: depth == 0, "empty before the outage")
    await csms.stop()
    await station.wait_link(connected=False)
    station.kill()
    await station.start(wait=False)  # no CSMS to connect to
    await station.sim("plug", "1")
    await station.sim("tag", "TAG1")  # offline: the cached card starts a session
    c = await wait_connector(station, 1, "at 12 A offline, after kill -9", offered_a=12)
    assert c["limit_source"] == "csms" and time.time() < start + 12
    await wait_until(lambda: time.time() >= start + 12, "the period boundary", timeout=12)
    await wait_connector(station, 1, "at 8 A, a second after the boundary", timeout=1.0,
                         offered_a=8)  # fmt: skip
    await csms.start()  # the queued messages reach the CSMS before the test ends
    await csms.wait_connected(STATION_ID)
    await station.wait_outbox(lambda depth: depth == 0, "empty after the replay")


async def test_a_replaced_profile_does_not_come_back_after_a_restart(
    csms: Csms, station: Station
) -> None:
    await station.start()

    def tx_default(profile_id: int, amps: float) -> dict[str, Any]:
        schedule = {"chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": amps}]}  # fmt: skip
        profile = {"chargingProfileId": profile_id, "stackLevel": 2,
                   "chargingProfilePurpose": "TxDefaultProfile",
                   "chargingProfileKind": "Relative", "chargingSchedule": schedule}  # fmt: skip
        return {"connectorId": 1, "csChargingProfiles": profile}

    for profile_id, amps in ((3, 12), (4, 20)):  # the same slot: 1.6 replaces
        answer = await csms.call(STATION_ID, "SetChargingProfile", tx_default(profile_id, amps))
        assert answer == {"status": "Accepted"}
    station.kill()
    await station.start()
    assert (await station.status())["smart"]["profiles"] == 1
    await station.start_session(1)
    c1 = await wait_connector(station, 1, "at the replacing profile's 20 A", offered_a=20)
    assert c1["limit_source"] == "csms"


# --- the site: local load balancing -----------------------------------------------------------


async def test_two_sessions_under_a_site_limit_share_it(csms: Csms, station: Station) -> None:
    configure(station, site={"max_current_a": 20})
    await station.start()
    await station.start_session(1)
    c1 = await wait_connector(station, 1, "given the whole site", offered_a=20)
    assert c1["limit_source"] == "site"
    await station.start_session(2, "TAG2")
    await wait_connector(station, 1, "at half", offered_a=10)
    await wait_connector(station, 2, "at half", offered_a=10)
    await wait_draw(station, 1, 10)
    await wait_draw(station, 2, 10)

    await station.sim("unplug", "1")  # the EV leaves: the other one gets it all at once
    await wait_connector(station, 2, "given the whole site", offered_a=20)


async def test_a_session_arriving_when_there_is_not_enough_waits_its_turn(
    csms: Csms, station: Station
) -> None:
    configure(station, site={"max_current_a": 10})
    await station.start()
    await station.start_session(1)
    await wait_connector(station, 1, "given the site", offered_a=10)
    await station.sim("plug", "2")
    await station.sim("tag", "TAG2")
    c2 = await wait_connector(station, 2, "paused", status="SuspendedEVSE", offered_a=0)
    assert c2["limit_a"] == 0 and c2["limit_source"] == "site"
    assert c2["transaction"] is not None
    c1 = await station.connector(1)
    assert (c1["offered_a"], c1["status"]) == (10, "Charging")  # first come keeps it

    await station.sim("unplug", "1")
    await wait_connector(station, 2, "its turn", status="Charging", offered_a=10)


async def test_an_ev_drawing_less_gives_the_rest_to_the_other(
    csms: Csms, station: Station
) -> None:
    configure(station, site={"max_current_a": 30})
    await station.start()
    await station.sim("ev-max", "1", "10")
    await station.start_session(1)
    await station.start_session(2, "TAG2")
    await wait_draw(station, 1, 10)

    def shares(status: dict[str, Any]) -> tuple[float, float]:
        c1, c2 = status["connectors"]
        return c1["offered_a"], c2["offered_a"]

    deadline = time.monotonic() + WAIT_S
    while True:
        first, second = shares(await station.status())
        if second >= 18 and first + second <= 30:
            break
        assert time.monotonic() < deadline, f"not reclaimed: offered {first} A and {second} A"
        await asyncio.sleep(POLL_S)
    assert first >= 10  # the EV that takes 10 A still gets what it draws


async def test_the_house_load_reduces_the_budget_and_a_failed_grid_meter_falls_back(
    csms: Csms, station: Station
) -> None:
    configure(station, site={"max_current_a": 32, "meter": {"driver": "sim"}})
    await station.start()
    await station.start_session(1)
    await station.sim("house-load", "10")
    c1 = await wait_connector(station, 1, "32 - 10 house - 1 margin", offered_a=21)
    assert c1["limit_source"] == "site"
    await wait_draw(station, 1, 21)

    await station.sim("grid-meter-fail")
    await wait_connector(station, 1, "at the fallback", offered_a=6)
    await station.sim("grid-meter-restore")
    await wait_connector(station, 1, "back to the measured budget", offered_a=21)


# --- on the wire: the RAPI controller hears the new limit -----------------------------------


async def test_a_limit_change_is_an_sc_command_on_the_rapi_serial_line(tmp_path: Path) -> None:
    """The daemon in this process (so the wire simulator's log can be read), its RAPI driver
    on a pty to the simulated OpenEVSE; free charging, so no CSMS is needed."""
    config_path = wire_station(tmp_path, auth={"free": True})
    config = load_config(config_path)
    hardware = await build_hardware(config)
    daemon = Daemon(config, hardware)
    running = asyncio.create_task(daemon.run())
    device = hardware.sim.rapi[1]

    def heard() -> list[str]:
        return [" ".join((f.command, *f.args)) for f in device.received]

    try:
        await wait_until(lambda: daemon.station.connectors[1].status.value == "Available",
                         "the daemon up")  # fmt: skip
        hardware.sim.plug(1)  # free charging: the session starts at once
        await wait_until(lambda: device.controller.current_a == 32, "the EV drawing 32 A")
        mark = len(device.received)
        assert await technician.run(daemon, "limit", ["10", "--connector", "1"])
        await wait_until(lambda: "SC 10 V" in heard()[mark:], "$SC 10 on the line")
        await wait_until(lambda: device.controller.current_a == 10, "the EV drawing 10 A")

        mark = len(device.received)
        await technician.run(daemon, "limit", ["4", "--connector", "1"])
        await wait_until(lambda: "FS" in heard()[mark:], "$FS (sleep) on the line")
        assert not any(cmd.startswith("SC") for cmd in heard()[mark:])  # never SC 4
        await wait_until(lambda: device.controller.current_a == 0, "the EV held off")

        mark = len(device.received)
        await technician.run(daemon, "limit", ["clear"])
        await wait_until(lambda: "SC 32 V" in heard()[mark:], "$SC 32 on the line")
        await wait_until(lambda: device.controller.current_a == 32, "the EV drawing again")
    finally:
        daemon.stop()
        await running
        await hardware.close()


# --- 2.0.1: external control signals may be switched off --------------------------------------


async def test_2_0_1_refuses_an_external_limit_while_external_control_signals_are_disabled(
    tmp_path: Path,
) -> None:
    csms = Csms201(close_timeout=0.5)
    await csms.start()
    sock_dir = Path(tempfile.mkdtemp(prefix="cd-", dir="/tmp"))
    station = Station201(csms, tmp_path, sock_dir)
    station.set_ocpp("SmartChargingCtrlr", "ExternalControlSignalsEnabled", False)
    try:
        await station.start()
        answer = await ctl(station, "limit", "10")
        assert not answer["ok"]
        assert "SmartChargingCtrlr.ExternalControlSignalsEnabled is false" in answer["error"]
        assert (await station.status())["smart"]["external"] == {}

        answer = await ctl(station, "ocpp", "set",
                           "SmartChargingCtrlr.ExternalControlSignalsEnabled", "true")  # fmt: skip
        assert answer["ok"], answer
        mark = len(csms.ledger.entries)
        await limit(station, "10", "--connector", "1")
        notified = await wait_call(csms, "NotifyChargingLimit", after=mark)
        assert notified.payload["chargingLimit"]["chargingLimitSource"] == "EMS"
        assert notified.payload.get("evseId") == 1
        await station.start_session(1)
        c1 = await wait_connector(station, 1, "at the external 10 A", offered_a=10)
        assert c1["limit_source"] == "external"
    finally:
        if station.running:
            station.kill()
        await csms.stop()
        shutil.rmtree(sock_dir, ignore_errors=True)
    assert csms.ledger.violations == []


# --- DC: the power module's setpoint follows -----------------------------------------------------


async def test_on_dc_the_power_modules_current_follows_the_limit(
    csms: Csms, station: Station
) -> None:
    power = {**DC_CONNECTOR["power"], "modules": [0, 1, 2]}
    dc = {**DC_CONNECTOR, "max_current_a": 150, "min_voltage_v": 150, "max_voltage_v": 1000,
          "power": power}  # fmt: skip
    del dc["phases"]
    wire_up(station, [dc])
    mark = await station.start(wait=False)
    await station.wait_statuses_reported(after=mark, connectors=(0, 1))
    await station.start_session(1, "TAG1")

    async def dc_current() -> float | None:
        return ((await station.connector(1))["dc"] or {}).get("current_a")

    await limit(station, "60", "--connector", "1")
    deadline = time.monotonic() + WAIT_S
    while (amps := await dc_current()) != 60.0:
        assert time.monotonic() < deadline, f"the DC output is {amps} A, not 60 A"
        await asyncio.sleep(POLL_S)
    assert (await station.connector(1))["offered_a"] == 60


async def test_a_remote_start_s_tx_profile_bounds_the_very_first_offer_on_the_wire(
    csms: Csms, tmp_path: Path
) -> None:
    """RemoteStartTransaction with an 8 A TxProfile: the controller never hears $SC 32, not
    even for the moment between the transaction's start and the profile's binding."""
    config_path = wire_station(tmp_path, csms_url=csms.url)
    config = load_config(config_path)
    hardware = await build_hardware(config)
    daemon = Daemon(config, hardware)
    running = asyncio.create_task(daemon.run())
    device = hardware.sim.rapi[1]
    try:
        await csms.wait_connected(STATION_ID, WAIT_S)
        await wait_until(lambda: daemon.link.state == "connected", "the link up")
        # a RemoteStart before the BootNotification is answered is Rejected (1.6 errata)
        await wait_until(lambda: daemon.adapter.registration == "Accepted", "boot accepted")
        hardware.sim.plug(1)
        tx_profile = {
            "chargingProfileId": 9, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {"chargingRateUnit": "A",
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8}]},
        }  # fmt: skip
        mark = len(device.received)
        answer = await csms.call(
            STATION_ID, "RemoteStartTransaction",
            {"connectorId": 1, "idTag": "TAG1", "chargingProfile": tx_profile},
        )  # fmt: skip
        assert answer == {"status": "Accepted"}
        await wait_until(lambda: device.controller.current_a == 8, "the EV drawing 8 A")
        offers = [f.args[0] for f in device.received[mark:] if f.command == "SC"]
        assert offers and set(offers) == {"8"}, offers
    finally:
        daemon.stop()
        await running
        await hardware.close()
