"""OCPP 1.6 Smart Charging profile end to end: the real daemon, simulated hardware and the dev
CSMS. SetChargingProfile / ClearChargingProfile / GetCompositeSchedule answers, the worked
examples of SMART_CHARGING.md as composites, what the EVSE offers (`chargerctl status`,
MeterValues Current.Offered), restarts, and RemoteStartTransaction with a TxProfile."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from chargerd.ocpp16.payloads import parse_timestamp
from devcsms import Csms

from .conftest import STATION_ID, Station, calls, wait_call, wait_until

OFFERED = "Current.Offered"


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def profile(
    profile_id: int,
    purpose: str,
    periods: list[tuple[int, float]],
    *,
    stack_level: int = 0,
    start: float | None = None,
    kind: str = "Absolute",
    unit: str = "A",
    **more: Any,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": limit} for s, limit in periods],
    }
    if start is not None:
        schedule["startSchedule"] = iso(start)
    schedule.update(more.pop("schedule", {}))
    return {
        "chargingProfileId": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
        **more,
    }


async def set_profile(csms: Csms, connector: int, wire: dict[str, Any]) -> str:
    answer = await csms.call(
        STATION_ID, "SetChargingProfile", {"connectorId": connector, "csChargingProfiles": wire}
    )
    return answer["status"]


async def clear(csms: Csms, **criteria: Any) -> str:
    return (await csms.call(STATION_ID, "ClearChargingProfile", criteria))["status"]


async def composite(
    csms: Csms, connector: int, duration: int, unit: str | None = None
) -> tuple[dict[str, Any], list[tuple[int, float]]]:
    """The answer and its periods as (startPeriod, limit)."""
    request: dict[str, Any] = {"connectorId": connector, "duration": duration}
    if unit:
        request["chargingRateUnit"] = unit
    answer = await csms.call(STATION_ID, "GetCompositeSchedule", request)
    periods = answer.get("chargingSchedule", {}).get("chargingSchedulePeriod", [])
    return answer, [(p["startPeriod"], float(p["limit"])) for p in periods]


def near(periods: list[tuple[int, float]], expected: list[tuple[float, float]]) -> bool:
    """Same limits, each period starting within a second of the expected offset (the request
    is answered a moment after the profiles were built)."""
    return len(periods) == len(expected) and all(
        abs(s - es) <= 1 and abs(limit - el) < 0.05
        for (s, limit), (es, el) in zip(periods, expected, strict=True)
    )


async def offered(station: Station, connector: int, amps: float) -> dict[str, Any]:
    """Wait for `chargerctl status` to show that offer; the connector's entry."""
    seen: dict[str, Any] = {}

    async def poll() -> bool:
        seen.update(await station.connector(connector))
        return seen.get("offered_a") == amps

    deadline = time.monotonic() + 5
    while not await poll():
        assert time.monotonic() < deadline, f"connector {connector} offers {seen}, not {amps} A"
        await wait_until(lambda: True, "a poll")
    return seen


def offered_values(csms: Csms, connector: int, after: int) -> list[float]:
    """Current.Offered values of the station's MeterValues for `connector`."""
    return [
        float(sv["value"])
        for e in calls(csms, "MeterValues", after)
        if e.payload["connectorId"] == connector
        for mv in e.payload["meterValue"]
        for sv in mv["sampledValue"]
        if sv.get("measurand") == OFFERED
    ]


# --- SetChargingProfile / ClearChargingProfile ------------------------------------------------


async def test_a_default_profile_limits_what_is_offered_and_meter_values_follow(
    csms: Csms, station: Station
):
    station.ocpp["MeterValuesSampledData"] = "Energy.Active.Import.Register,Current.Offered"
    await station.start()
    tx_id = await station.start_session(1)
    await offered(station, 1, 32)
    assert await set_profile(csms, 0, profile(1, "TxDefaultProfile", [(0, 10)])) == "Accepted"
    c = await offered(station, 1, 10)
    assert (c["limit_a"], c["limit_source"]) == (10, "csms")
    mark = len(csms.ledger.entries)
    await wait_until(lambda: 10.0 in offered_values(csms, 1, mark), "Current.Offered 10 A")
    await wait_call(csms, "MeterValues", after=mark, transactionId=tx_id)

    assert await clear(csms, id=1) == "Accepted"
    await offered(station, 1, 32)
    mark = len(csms.ledger.entries)
    await wait_until(lambda: 32.0 in offered_values(csms, 1, mark), "Current.Offered 32 A")
    assert await clear(csms, id=1) == "Unknown"


async def test_clear_by_stack_level_0_purpose_and_connector(csms: Csms, station: Station):
    await station.start()
    assert await set_profile(csms, 1, profile(1, "TxDefaultProfile", [(0, 16)])) == "Accepted"
    assert await set_profile(csms, 2, profile(2, "TxDefaultProfile", [(0, 12)])) == "Accepted"
    assert await clear(csms, connectorId=2, stackLevel=0) == "Accepted"  # 0 is a value
    assert await clear(csms, connectorId=2) == "Unknown"
    assert await clear(csms, chargingProfilePurpose="ChargePointMaxProfile") == "Unknown"
    assert await clear(csms, chargingProfilePurpose="TxDefaultProfile") == "Accepted"
    assert await clear(csms) == "Unknown"


async def test_tx_profile_needs_the_running_transaction(csms: Csms, station: Station):
    await station.start()
    tx_profile = profile(5, "TxProfile", [(0, 8)])
    assert await set_profile(csms, 1, tx_profile) == "Rejected"  # no transaction
    tx_id = await station.start_session(1)
    wrong = {**tx_profile, "transactionId": tx_id + 1000}
    assert await set_profile(csms, 1, wrong) == "Rejected"
    assert await set_profile(csms, 0, tx_profile) == "Rejected"  # not on connector 0
    assert await set_profile(csms, 1, {**tx_profile, "transactionId": tx_id}) == "Accepted"
    await offered(station, 1, 8)

    # it ends with its transaction: the next session gets the full current again
    mark = len(csms.ledger.entries)
    await station.sim("unplug", "1")
    await wait_call(csms, "StopTransaction", after=mark, transactionId=tx_id)
    _, periods = await composite(csms, 1, 60)
    assert periods == [(0, 32.0)]
    assert await clear(csms, id=5) == "Unknown"


async def test_invalid_profiles_are_rejected_and_the_station_goes_on(csms: Csms, station: Station):
    await station.start()
    bad = [
        (1, profile(1, "ChargePointMaxProfile", [(0, 16)])),  # only on connector 0
        (0, profile(2, "TxDefaultProfile", [(10, 16)])),  # first period not at 0
        (0, profile(3, "TxDefaultProfile", [(0, 16), (0, 8)])),  # not ascending
        (0, profile(4, "TxDefaultProfile", [(0, 16)], stack_level=9)),  # beyond the key
        (0, profile(5, "TxDefaultProfile", [(n, 16) for n in range(25)])),  # too many periods
        (0, profile(6, "TxDefaultProfile", [(0, 16)], kind="Recurring")),  # no recurrencyKind
        (3, profile(7, "TxDefaultProfile", [(0, 16)])),  # no connector 3
        (0, profile(8, "TxDefaultProfile", [(0, 16)], schedule={"startSchedule": "soon"})),
        (0, profile(9, "TxDefaultProfile", [(0, -1)])),  # a negative limit
    ]
    for connector, wire in bad:
        assert await set_profile(csms, connector, wire) == "Rejected", wire
    assert await set_profile(csms, 0, profile(10, "TxDefaultProfile", [(0, 11.1)])) == "Accepted"
    _, periods = await composite(csms, 1, 60)
    assert periods == [(0, 11.1)]


async def test_configuration_keys_announce_smart_charging(csms: Csms, station: Station):
    await station.start()
    answer = await csms.call(STATION_ID, "GetConfiguration", {})
    keys = {k["key"]: k for k in answer["configurationKey"]}
    assert "SmartCharging" in keys["SupportedFeatureProfiles"]["value"].split(",")
    assert keys["ChargeProfileMaxStackLevel"]["value"] == "8"
    assert keys["ChargingScheduleMaxPeriods"]["value"] == "24"
    assert keys["MaxChargingProfilesInstalled"]["value"] == "32"
    assert keys["ChargingScheduleAllowedChargingRateUnit"]["value"] == "Current,Power"
    assert keys["ConnectorSwitch3to1PhaseSupported"]["value"] == "false"
    assert all(
        keys[k]["readonly"] for k in ("ChargeProfileMaxStackLevel", "MaxChargingProfilesInstalled")
    )


# --- GetCompositeSchedule: the worked examples ----------------------------------------------


async def test_composite_highest_stack_level_wins_then_falls_back(csms: Csms, station: Station):
    """Example 1: s1 (12 A, then 20 A) beats s0's 16 A until its 300 s have run."""
    await station.start()
    await station.start_session(1)
    t = time.time()
    s0 = profile(1, "TxDefaultProfile", [(0, 16)], start=t - 600)
    s1 = profile(2, "TxDefaultProfile", [(0, 12), (120, 20)], stack_level=1, start=t - 10,
                 schedule={"duration": 300})  # fmt: skip
    assert await set_profile(csms, 1, s0) == "Accepted"
    assert await set_profile(csms, 1, s1) == "Accepted"
    answer, periods = await composite(csms, 1, 600)
    assert answer["status"] == "Accepted" and answer["connectorId"] == 1
    start = parse_timestamp(answer["scheduleStart"])
    assert start is not None and abs(start - time.time()) < 5
    shift = start - t  # the request came a moment after t
    assert near(periods, [(0, 12), (110 - shift, 20), (290 - shift, 16)]), periods


async def test_composite_tx_profile_replaces_the_default_and_the_station_maximum_caps(
    csms: Csms, station: Station
):
    """Example 2, with and without the transaction."""
    await station.start()
    t = time.time()
    station_max = profile(1, "ChargePointMaxProfile", [(0, 20), (60, 10)], start=t)
    assert await set_profile(csms, 0, station_max) == "Accepted"
    default = profile(2, "TxDefaultProfile", [(0, 16)], stack_level=5, start=t)
    assert await set_profile(csms, 1, default) == "Accepted"
    answer, periods = await composite(csms, 1, 300)
    shift = (parse_timestamp(answer["scheduleStart"]) or 0) - t
    assert near(periods, [(0, 16), (60 - shift, 10)]), periods

    await station.start_session(1)
    tx = profile(3, "TxProfile", [(0, 32), (120, 8)], start=t)
    assert await set_profile(csms, 1, tx) == "Accepted"
    answer, periods = await composite(csms, 1, 300)
    shift = (parse_timestamp(answer["scheduleStart"]) or 0) - t
    assert near(periods, [(0, 20), (60 - shift, 10), (120 - shift, 8)]), periods


async def test_composite_in_amperes_or_watts(csms: Csms, station: Station):
    """Example 3: 11040 W and 4140 W on 3 phases at 230 V are 16 A and 6 A."""
    await station.start()
    t = time.time()
    watts = profile(1, "TxDefaultProfile", [(0, 11040), (3600, 4140)], start=t, unit="W")
    for period in watts["chargingSchedule"]["chargingSchedulePeriod"]:
        period["numberPhases"] = 3
    assert await set_profile(csms, 1, watts) == "Accepted"
    assert await set_profile(csms, 0, profile(2, "ChargePointMaxProfile", [(0, 10)], start=t))
    answer, periods = await composite(csms, 1, 7200, "A")
    shift = (parse_timestamp(answer["scheduleStart"]) or 0) - t
    assert answer["chargingSchedule"]["chargingRateUnit"] == "A"
    assert near(periods, [(0, 10), (3600 - shift, 6)]), periods
    answer, periods = await composite(csms, 1, 7200, "W")
    assert answer["chargingSchedule"]["chargingRateUnit"] == "W"
    assert near(periods, [(0, 6900), (3600 - shift, 4140)]), periods


async def test_composite_of_a_daily_recurrence_begun_yesterday(csms: Csms, station: Station):
    """Example 4's trap: today's instance of a daily profile may have begun yesterday."""
    await station.start()
    t = time.time()
    base = profile(1, "TxDefaultProfile", [(0, 32)], start=t - 7 * 86_400)
    daily = profile(2, "TxDefaultProfile", [(0, 8), (3600, 16)], stack_level=1,
                    start=t - 86_400 - 3000, kind="Recurring", recurrencyKind="Daily",
                    schedule={"duration": 7200})  # fmt: skip
    assert await set_profile(csms, 1, base) == "Accepted"
    assert await set_profile(csms, 1, daily) == "Accepted"
    answer, periods = await composite(csms, 1, 90_000)
    shift = (parse_timestamp(answer["scheduleStart"]) or 0) - t
    # today's instance began 3000 s ago: 8 A for 600 s more, 16 A until +4200, then 32 A,
    # and tomorrow's from +83400
    expected = [(0, 8), (600 - shift, 16), (4200 - shift, 32), (83_400 - shift, 8),
                (87_000 - shift, 16)]  # fmt: skip
    assert near(periods, expected), periods


async def test_composite_of_the_station_and_of_an_unknown_connector(csms: Csms, station: Station):
    await station.start()
    answer, periods = await composite(csms, 0, 60)
    assert answer["status"] == "Accepted" and answer["connectorId"] == 0
    assert len(periods) >= 1 and periods[0][0] == 0
    answer, _ = await composite(csms, 3, 60)
    assert answer == {"status": "Rejected"}


# --- durability and RemoteStartTransaction ----------------------------------------------------


async def test_profiles_survive_a_restart_and_kill_9(csms: Csms, station: Station):
    await station.start()
    assert await set_profile(csms, 0, profile(1, "TxDefaultProfile", [(0, 10)])) == "Accepted"
    await station.restart()
    _, periods = await composite(csms, 1, 60)
    assert periods == [(0, 10.0)]
    assert await set_profile(csms, 0, profile(1, "TxDefaultProfile", [(0, 14)])) == "Accepted"
    station.kill()
    await station.start()
    _, periods = await composite(csms, 1, 60)
    assert periods == [(0, 14.0)]  # the replaced one never comes back
    await station.start_session(1)
    await offered(station, 1, 14)


async def test_remote_start_with_a_tx_profile_applies_from_the_first_moment(
    csms: Csms, station: Station
):
    station.ocpp["MeterValuesSampledData"] = "Energy.Active.Import.Register,Current.Offered"
    await station.start()
    await station.sim("plug", "1")
    mark = len(csms.ledger.entries)
    request = {
        "connectorId": 1,
        "idTag": "TAG1",
        "chargingProfile": profile(9, "TxProfile", [(0, 8)], kind="Relative"),
    }
    answer = await csms.call(STATION_ID, "RemoteStartTransaction", request)
    assert answer == {"status": "Accepted"}
    start = await wait_call(csms, "StartTransaction", after=mark, connectorId=1)
    c = await offered(station, 1, 8)
    assert c["status"] == "Charging" and c["limit_source"] == "csms"
    await wait_until(lambda: bool(offered_values(csms, 1, start.index)), "a Current.Offered")
    assert set(offered_values(csms, 1, start.index)) == {8.0}  # never the full 32 A
    _, periods = await composite(csms, 1, 60)
    assert periods == [(0, 8.0)]


async def test_remote_start_with_a_profile_that_is_not_a_tx_profile_is_rejected(
    csms: Csms, station: Station
):
    await station.start()
    request = {
        "connectorId": 1,
        "idTag": "TAG1",
        "chargingProfile": profile(9, "TxDefaultProfile", [(0, 8)]),
    }
    answer = await csms.call(STATION_ID, "RemoteStartTransaction", request)
    assert answer == {"status": "Rejected"}
    assert (await station.connector(1))["status"] == "Available"
