"""OCPP 2.0.1 smart charging (functional block K) end to end: the real daemon, simulated
hardware and the strict 2.0.1 dev CSMS. K01 SetChargingProfile and its rejections with
reason codes, K05 RequestStartTransaction with a TxProfile, K08 GetCompositeSchedule, K09
GetChargingProfiles → ReportChargingProfiles, K10 ClearChargingProfile, K11-K13 external
limits (NotifyChargingLimit / ClearedChargingLimit) and ChargingRateChanged."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from chargerd.ctl import request
from devcsms import Csms201

from .conftest import STATION_ID, WAIT_S, wait_call, wait_until
from .conftest201 import Station201, csms, station, wait_tx_event

__all__ = ["csms", "station"]  # the 2.0.1 fixtures, not conftest.py's 1.6 ones


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def profile(
    profile_id: int,
    purpose: str,
    periods: list[tuple[int, float]],
    *,
    stack_level: int = 0,
    kind: str = "Absolute",
    start: float | None = 0.0,  # 0: now
    unit: str = "A",
    **more: Any,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "id": profile_id * 10,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": limit} for s, limit in periods],
    }
    if start is not None:
        schedule["startSchedule"] = iso(start or time.time())
    return {
        "id": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": [schedule],
        **more,
    }


async def set_profile(csms: Csms201, evse: int, wire: dict[str, Any]) -> dict[str, Any]:
    return await csms.call(
        STATION_ID, "SetChargingProfile", {"evseId": evse, "chargingProfile": wire}
    )


def reason(answer: dict[str, Any]) -> str:
    assert answer["status"] == "Rejected", answer
    return answer["statusInfo"]["reasonCode"]


async def ctl(station: Station201, command: str, *args: str) -> dict[str, Any]:
    message = {"cmd": command, "args": list(args)}
    answer = await asyncio.to_thread(request, str(station.socket), message, 5)
    assert answer.get("ok"), answer
    return answer


async def offered(station: Station201, connector: int, amps: float) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while True:
        c = await station.connector(connector)
        if c.get("offered_a") == amps:
            return c
        assert time.monotonic() < deadline, f"connector {connector} offers {c}, not {amps} A"
        await asyncio.sleep(0.05)


async def report(csms: Csms201, request_id: int, **criteria: Any) -> list[dict[str, Any]]:
    """GetChargingProfiles; the ReportChargingProfiles that follow ([] for NoProfiles)."""
    payload: dict[str, Any] = {"requestId": request_id, "chargingProfile": criteria.pop("by", {})}
    payload.update(criteria)
    answer = await csms.call(STATION_ID, "GetChargingProfiles", payload)
    if answer["status"] == "NoProfiles":
        return []
    assert answer["status"] == "Accepted", answer

    def done() -> bool:
        pages = csms.ledger.profile_reports.get(request_id, [])
        return bool(pages) and not pages[-1].get("tbc", False)

    await wait_until(done, f"ReportChargingProfiles {request_id} to end")
    return csms.ledger.profile_reports[request_id]


def limits_sent(csms: Csms201, action: str) -> list[dict[str, Any]]:
    return [p for a, p in csms.ledger.charging_limits if a == action]


# --- K01 / K08 ------------------------------------------------------------------------------


async def test_a_default_profile_limits_the_offer_and_the_composite(
    csms: Csms201, station: Station201
):
    await station.start()
    await station.start_session(1)
    answer = await set_profile(csms, 0, profile(1, "TxDefaultProfile", [(0, 10)]))
    assert answer["status"] == "Accepted"
    c = await offered(station, 1, 10)
    assert c["limit_source"] == "csms"

    composite = await csms.call(STATION_ID, "GetCompositeSchedule", {"evseId": 1, "duration": 60})
    assert composite["status"] == "Accepted"
    schedule = composite["schedule"]
    assert (schedule["evseId"], schedule["duration"], schedule["chargingRateUnit"]) == (1, 60, "A")
    assert schedule["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 10.0}]
    watts = await csms.call(
        STATION_ID, "GetCompositeSchedule", {"evseId": 1, "duration": 60, "chargingRateUnit": "W"}
    )
    assert watts["schedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 6900.0}]
    grid = await csms.call(STATION_ID, "GetCompositeSchedule", {"evseId": 0, "duration": 60})
    assert grid["status"] == "Accepted" and grid["schedule"]["chargingSchedulePeriod"]
    unknown = await csms.call(STATION_ID, "GetCompositeSchedule", {"evseId": 3, "duration": 60})
    assert reason(unknown) == "UnknownEvse"


async def test_k01_rejections_carry_a_reason_code(csms: Csms201, station: Station201):
    await station.start()
    external = profile(1, "ChargingStationExternalConstraints", [(0, 10)])
    assert reason(await set_profile(csms, 0, external)) == "InvalidProfile"
    station_max = profile(2, "ChargingStationMaxProfile", [(0, 20)])
    assert reason(await set_profile(csms, 1, station_max)) == "InvalidProfile"
    relative_max = profile(2, "ChargingStationMaxProfile", [(0, 20)], kind="Relative", start=None)
    assert reason(await set_profile(csms, 0, relative_max)) == "InvalidProfile"
    no_start = profile(3, "TxDefaultProfile", [(0, 16)], start=None)
    assert reason(await set_profile(csms, 1, no_start)) == "InvalidSchedule"
    relative_with_start = profile(3, "TxDefaultProfile", [(0, 16)], kind="Relative")
    assert reason(await set_profile(csms, 1, relative_with_start)) == "InvalidSchedule"
    tx = profile(4, "TxProfile", [(0, 16)], transactionId="no-such-tx")
    assert reason(await set_profile(csms, 1, tx)) == "TxNotFound"
    assert reason(await set_profile(csms, 3, profile(5, "TxDefaultProfile", [(0, 16)]))) == (
        "UnknownEvse"
    )
    deep = profile(6, "TxDefaultProfile", [(0, 16)], stack_level=9)
    assert reason(await set_profile(csms, 1, deep)) == "InvalidStackLevel"
    late = profile(7, "TxDefaultProfile", [(5, 16)])
    assert reason(await set_profile(csms, 1, late)) == "InvalidSchedule"

    first = profile(8, "TxDefaultProfile", [(0, 16)], stack_level=2)
    assert (await set_profile(csms, 1, first))["status"] == "Accepted"
    twin = profile(9, "TxDefaultProfile", [(0, 12)], stack_level=2)
    assert reason(await set_profile(csms, 1, twin)) == "DuplicateProfile"
    same_id = profile(8, "TxDefaultProfile", [(0, 12)], stack_level=2)
    assert (await set_profile(csms, 1, same_id))["status"] == "Accepted"  # replaces
    entries = await csms.call(
        STATION_ID,
        "GetVariables",
        {"getVariableData": [{"component": {"name": "SmartChargingCtrlr"},
                              "variable": {"name": "Entries", "instance": "ChargingProfiles"}}]},
    )  # fmt: skip
    assert entries["getVariableResult"][0]["attributeValue"] == "1"

    disable = {"component": {"name": "SmartChargingCtrlr"}, "variable": {"name": "Enabled"},
               "attributeValue": "false"}  # fmt: skip
    await csms.call(STATION_ID, "SetVariables", {"setVariableData": [disable]})
    assert reason(await set_profile(csms, 1, profile(10, "TxDefaultProfile", [(0, 6)]))) == (
        "NotEnabled"
    )


async def test_tx_profile_of_the_running_transaction_ends_with_it(
    csms: Csms201, station: Station201
):
    mark = await station.start()
    tx_id = await station.start_session(1)
    tx = profile(1, "TxProfile", [(0, 8)], transactionId=tx_id)
    assert reason(await set_profile(csms, 2, tx)) == "TxNotFound"  # not on that EVSE
    assert (await set_profile(csms, 1, tx))["status"] == "Accepted"
    await offered(station, 1, 8)
    changed = await wait_tx_event(csms, "Updated", after=mark, transactionId=tx_id)
    await wait_until(
        lambda: "ChargingRateChanged" in station.tx(tx_id).trigger_reasons,
        "TransactionEvent ChargingRateChanged",
    )
    assert changed.payload["transactionInfo"]["transactionId"] == tx_id
    twin = profile(2, "TxProfile", [(0, 12)], transactionId=tx_id)
    assert reason(await set_profile(csms, 1, twin)) == "DuplicateProfile"

    pages = await report(csms, 1, by={"chargingProfilePurpose": "TxProfile"})
    assert [p["chargingProfile"][0]["transactionId"] for p in pages] == [tx_id]
    await station.sim("unplug", "1")
    await wait_tx_event(csms, "Ended", transactionId=tx_id)
    assert await report(csms, 2, by={"chargingProfilePurpose": "TxProfile"}) == []


# --- K09 / K10 ------------------------------------------------------------------------------


async def test_get_charging_profiles_reports_per_evse_and_source(
    csms: Csms201, station: Station201
):
    await station.start()
    station_wide = profile(1, "TxDefaultProfile", [(0, 20)])
    evse_1 = profile(2, "TxDefaultProfile", [(0, 16)], stack_level=1)
    assert (await set_profile(csms, 0, station_wide))["status"] == "Accepted"
    assert (await set_profile(csms, 1, evse_1))["status"] == "Accepted"
    await ctl(station, "limit", "12", "--connector", "1", "--source", "EMS")

    pages = await report(csms, 10)
    assert [(p["evseId"], p["chargingLimitSource"], p.get("tbc", False)) for p in pages] == [
        (0, "CSO", True),
        (1, "CSO", True),
        (1, "EMS", False),
    ]
    assert pages[0]["chargingProfile"] == [station_wide]  # as it was set, schedule id too
    assert pages[1]["chargingProfile"] == [evse_1]
    [ems] = pages[2]["chargingProfile"]
    assert ems["chargingProfilePurpose"] == "ChargingStationExternalConstraints"
    assert ems["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 12

    only_ems = await report(csms, 11, by={"chargingLimitSource": ["EMS"]})
    assert [p["chargingLimitSource"] for p in only_ems] == ["EMS"]
    evse_0 = await report(csms, 12, evseId=0)
    assert [p["chargingProfile"][0]["id"] for p in evse_0] == [1]
    assert await report(csms, 13, by={"chargingProfileId": [99]}) == []

    composite = await csms.call(STATION_ID, "GetCompositeSchedule", {"evseId": 1, "duration": 60})
    assert composite["schedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 12.0}]

    # K10: the CSMS clears its own, never the external constraint
    cleared = await csms.call(STATION_ID, "ClearChargingProfile", {"chargingProfileId": ems["id"]})
    assert cleared["status"] == "Unknown"
    criteria = {"chargingProfilePurpose": "ChargingStationExternalConstraints"}
    cleared = await csms.call(
        STATION_ID, "ClearChargingProfile", {"chargingProfileCriteria": criteria}
    )
    assert cleared["status"] == "Unknown"
    criteria = {"evseId": 1, "stackLevel": 1}
    cleared = await csms.call(
        STATION_ID, "ClearChargingProfile", {"chargingProfileCriteria": criteria}
    )
    assert cleared["status"] == "Accepted"
    cleared = await csms.call(STATION_ID, "ClearChargingProfile", {"chargingProfileId": 1})
    assert cleared["status"] == "Accepted"
    assert (await csms.call(STATION_ID, "ClearChargingProfile", {"chargingProfileId": 1}))[
        "status"
    ] == "Unknown"
    assert [p["chargingLimitSource"] for p in await report(csms, 14)] == ["EMS"]


async def test_profiles_survive_a_restart(csms: Csms201, station: Station201):
    await station.start()
    wire = profile(1, "TxDefaultProfile", [(0, 14)])
    assert (await set_profile(csms, 0, wire))["status"] == "Accepted"
    station.kill()
    await station.start()
    pages = await report(csms, 1)
    assert pages[0]["chargingProfile"] == [wire]
    await station.start_session(1)
    await offered(station, 1, 14)


# --- K11-K13: external limits ------------------------------------------------------------------


async def test_external_limits_are_notified_and_cleared(csms: Csms201, station: Station201):
    station.set_ocpp("SmartChargingCtrlr", "NotifyChargingLimitWithSchedules", True)
    mark = await station.start()
    tx_id = await station.start_session(1)
    await ctl(station, "limit", "10", "--connector", "1", "--source", "EMS")
    notify = await wait_call(csms, "NotifyChargingLimit", after=mark)
    assert notify.payload["chargingLimit"] == {"chargingLimitSource": "EMS"}
    assert notify.payload["evseId"] == 1
    [schedule] = notify.payload["chargingSchedule"]
    assert schedule["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 10.0}]
    await offered(station, 1, 10)
    await wait_until(
        lambda: "ChargingRateChanged" in station.tx(tx_id).trigger_reasons,
        "TransactionEvent ChargingRateChanged",
    )

    # 5 % is below LimitChangeSignificance (10 %): not worth a message; 20 A is
    await ctl(station, "limit", "9.5", "--connector", "1", "--source", "EMS")
    await ctl(station, "limit", "20", "--connector", "1", "--source", "EMS")
    await wait_until(lambda: len(limits_sent(csms, "NotifyChargingLimit")) >= 2, "a 2nd notify")
    limits = [p["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"]
              for p in limits_sent(csms, "NotifyChargingLimit")]  # fmt: skip
    assert limits == [10.0, 20.0]
    # the offer too: 10 → 9.5 A is not worth a ChargingRateChanged, 9.5 → 20 A is
    await offered(station, 1, 20)

    def rate_changes() -> int:
        return station.tx(tx_id).trigger_reasons.count("ChargingRateChanged")

    await wait_until(lambda: rate_changes() >= 2, "a 2nd ChargingRateChanged")
    assert rate_changes() == 2

    await ctl(station, "limit", "clear", "--connector", "1")
    cleared = await wait_call(csms, "ClearedChargingLimit", after=mark)
    assert cleared.payload == {"chargingLimitSource": "EMS", "evseId": 1}
    await offered(station, 1, 32)


async def test_a_station_wide_limit_is_notified_without_an_evse_or_schedule(
    csms: Csms201, station: Station201
):
    mark = await station.start()
    await ctl(station, "limit", "16", "--source", "SO")
    notify = await wait_call(csms, "NotifyChargingLimit", after=mark)
    assert notify.payload == {"chargingLimit": {"chargingLimitSource": "SO"}}
    await ctl(station, "limit", "clear")
    cleared = await wait_call(csms, "ClearedChargingLimit", after=mark)
    assert cleared.payload == {"chargingLimitSource": "SO"}


# --- K05: RequestStartTransaction with a TxProfile ----------------------------------------------


async def test_request_start_with_a_tx_profile_binds_it_to_the_new_transaction(
    csms: Csms201, station: Station201
):
    station.set_ocpp("AuthCtrlr", "AuthorizeRemoteStart", False)
    station.set_ocpp("SampledDataCtrlr", "TxUpdatedMeasurands", "Current.Offered")
    mark = await station.start()
    tx_profile = profile(5, "TxProfile", [(0, 8), (3600, 16)], kind="Relative", start=None)
    start = {
        "idToken": {"idToken": "APP", "type": "Central"},
        "remoteStartId": 41,
        "evseId": 1,
        "chargingProfile": tx_profile,
    }
    answer = await csms.call(STATION_ID, "RequestStartTransaction", start)
    assert answer["status"] == "Accepted"
    await station.sim("plug", "1")
    started = await wait_tx_event(csms, "Started", after=mark)
    tx_id = started.payload["transactionInfo"]["transactionId"]
    c = await offered(station, 1, 8)
    assert c["status"] == "Charging"
    pages = await report(csms, 3, by={"chargingProfilePurpose": "TxProfile"})
    assert pages[0]["chargingProfile"] == [{**tx_profile, "transactionId": tx_id}]
    composite = await csms.call(STATION_ID, "GetCompositeSchedule", {"evseId": 1, "duration": 60})
    assert composite["schedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 8.0}]

    def offers() -> list[float]:
        return [
            float(sv["value"])
            for mv in station.tx(tx_id).meter_values
            for sv in mv["sampledValue"]
            if sv.get("measurand") == "Current.Offered"
        ]

    await wait_until(lambda: len(offers()) >= 2, "Updated events with Current.Offered")
    assert set(offers()) == {8.0}  # never the connector's 32 A


async def test_request_start_for_a_transaction_begun_at_the_ev_gets_the_profile_at_once(
    csms: Csms201, station: Station201
):
    station.set_ocpp("AuthCtrlr", "AuthorizeRemoteStart", False)
    station.set_ocpp("TxCtrlr", "TxStartPoint", "EVConnected")
    mark = await station.start()
    await station.sim("plug", "1")
    started = await wait_tx_event(csms, "Started", after=mark)
    tx_id = started.payload["transactionInfo"]["transactionId"]
    start = {
        "idToken": {"idToken": "APP", "type": "Central"},
        "remoteStartId": 43,
        "evseId": 1,
        "chargingProfile": profile(6, "TxProfile", [(0, 10)]),
    }
    answer = await csms.call(STATION_ID, "RequestStartTransaction", start)
    assert answer == {"status": "Accepted", "transactionId": tx_id}
    await offered(station, 1, 10)
    pages = await report(csms, 4, by={"chargingProfileId": [6]})
    assert pages[0]["chargingProfile"][0]["transactionId"] == tx_id


async def test_request_start_with_a_profile_that_is_not_a_tx_profile_is_rejected(
    csms: Csms201, station: Station201
):
    await station.start()
    start = {
        "idToken": {"idToken": "APP", "type": "Central"},
        "remoteStartId": 42,
        "evseId": 1,
        "chargingProfile": profile(5, "TxDefaultProfile", [(0, 8)]),
    }
    answer = await csms.call(STATION_ID, "RequestStartTransaction", start)
    assert reason(answer) == "InvalidProfile"
