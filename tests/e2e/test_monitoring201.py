"""OCPP 2.0.1 variable monitoring (N02-N08) end to end: the real daemon with simulated
hardware against the strict 2.0.1 CSMS; monitors set by the CSMS, events read from its
ledger."""

from __future__ import annotations

from typing import Any

import pytest

from devcsms import CallErrorReceived, Csms201

from .conftest import STATION_ID, calls, wait_until
from .conftest201 import Station201, csms, station

__all__ = ["csms", "station"]  # the 2.0.1 fixtures, not conftest.py's 1.6 ones

EVSE1 = {"name": "EVSE", "evse": {"id": 1}}
POWER = {"name": "Power"}
UPTIME = ({"name": "Controller"}, {"name": "Uptime"})
HARDWIRED_STORAGE_ID = 1  # the station's hard-wired low-storage monitor


def item(type: str, value: float, severity: int, component=EVSE1, variable=POWER, **more):
    return {"type": type, "value": value, "severity": severity, "component": component,
            "variable": variable, **more}  # fmt: skip


async def set_monitors(csms: Csms201, *items: dict) -> list[dict[str, Any]]:
    answer = await csms.call(
        STATION_ID, "SetVariableMonitoring", {"setMonitoringData": list(items)}
    )
    return answer["setMonitoringResult"]


async def set_monitor(csms: Csms201, *args: Any, **kw: Any) -> int:
    (result,) = await set_monitors(csms, item(*args, **kw))
    assert result["status"] == "Accepted", result
    return result["id"]


def events_of(csms: Csms201, monitor_id: int) -> list[dict]:
    return [e for e in csms.ledger.events if e.get("variableMonitoringId") == monitor_id]


async def wait_events(csms: Csms201, monitor_id: int, count: int, timeout: float = 10) -> list:
    await wait_until(
        lambda: len(events_of(csms, monitor_id)) >= count,
        f"{count} NotifyEvent data of monitor {monitor_id}",
        timeout=timeout,
    )
    return events_of(csms, monitor_id)


async def report(csms: Csms201, request_id: int, **request: Any) -> tuple[str, list[dict]]:
    """GetMonitoringReport's status and, when Accepted, its pages once the last arrived."""
    payload = {"requestId": request_id, **request}
    answer = await csms.call(STATION_ID, "GetMonitoringReport", payload)
    if answer["status"] != "Accepted":
        return answer["status"], []
    pages = csms.ledger.monitoring_reports

    def finished() -> bool:
        got = pages.get(request_id, [])
        return bool(got) and not got[-1]["tbc"]

    await wait_until(finished, f"NotifyMonitoringReport {request_id} to its last page")
    return "Accepted", pages[request_id]


def monitor_ids(pages: list[dict]) -> list[int]:
    return [vm["id"] for page in pages for m in page["monitor"] for vm in m["variableMonitoring"]]


async def test_upper_threshold_on_evse_power_trips_while_charging_and_clears_when_it_stops(
    csms: Csms201, station: Station201
):
    await station.start()
    monitor = await set_monitor(csms, "UpperThreshold", 5000, 3)
    await station.start_session(1)
    (tripped,) = await wait_events(csms, monitor, 1)
    assert tripped["trigger"] == "Alerting"
    assert tripped["eventNotificationType"] == "CustomMonitor"
    assert tripped["component"] == EVSE1 and tripped["variable"] == POWER
    assert float(tripped["actualValue"]) > 5000
    assert not tripped.get("cleared", False)
    await station.sim("ev-pause", "1")
    cleared = (await wait_events(csms, monitor, 2))[1]
    assert cleared["cleared"] is True and float(cleared["actualValue"]) <= 5000


async def test_delta_monitor_reports_the_power_step_of_a_starting_session(
    csms: Csms201, station: Station201
):
    await station.start()
    monitor = await set_monitor(csms, "Delta", 3000, 5)
    await station.start_session(1)
    (event,) = await wait_events(csms, monitor, 1)
    assert event["trigger"] == "Delta" and float(event["actualValue"]) >= 3000


async def test_periodic_monitor_reports_each_period(csms: Csms201, station: Station201):
    await station.start()
    monitor = await set_monitor(csms, "Periodic", 1, 5, *UPTIME)
    events = await wait_events(csms, monitor, 3)
    uptimes = [int(e["actualValue"]) for e in events[:3]]
    assert all(e["trigger"] == "Periodic" for e in events)
    assert uptimes == sorted(uptimes) and uptimes[0] < uptimes[2]


async def test_monitoring_level_reports_only_severe_enough_events(
    csms: Csms201, station: Station201
):
    await station.start()
    answer = await csms.call(STATION_ID, "SetMonitoringLevel", {"severity": 2})
    assert answer["status"] == "Accepted"
    critical = await set_monitor(csms, "UpperThreshold", 5000, 1)
    chatty = await set_monitor(csms, "UpperThreshold", 4000, 6)
    await station.start_session(1)
    await wait_events(csms, critical, 1)
    assert events_of(csms, chatty) == []  # evaluated with the same reading, not told
    bad = await csms.call(STATION_ID, "SetMonitoringLevel", {"severity": 10})
    assert bad["status"] == "Rejected"


async def test_set_variable_monitoring_answers_each_item(csms: Csms201, station: Station201):
    await station.start()
    results = await set_monitors(
        csms,
        item("UpperThreshold", 5000, 3),
        item("UpperThreshold", 6000, 3),  # same variable, type and severity
        item("UpperThreshold", 1, 3, component={"name": "NoSuchCtrlr"}),
        item("UpperThreshold", 1, 3, variable={"name": "NoSuchVariable"}),
        item(
            "Delta",
            1,
            3,
            component={"name": "OCPPCommCtrlr"},
            variable={"name": "HeartbeatInterval"},
        ),  # fmt: skip
    )
    assert [r["status"] for r in results] == [
        "Accepted",
        "Duplicate",
        "UnknownComponent",
        "UnknownVariable",
        "UnsupportedMonitorType",
    ]
    (replaced,) = await set_monitors(csms, item("UpperThreshold", 7000, 3, id=results[0]["id"]))
    assert replaced["status"] == "Accepted" and replaced["id"] == results[0]["id"]


async def test_clear_variable_monitoring(csms: Csms201, station: Station201):
    await station.start()
    monitor = await set_monitor(csms, "UpperThreshold", 5000, 3)
    answer = await csms.call(
        STATION_ID, "ClearVariableMonitoring", {"id": [monitor, 987654, HARDWIRED_STORAGE_ID]}
    )
    assert answer["clearMonitoringResult"] == [
        {"id": monitor, "status": "Accepted"},
        {"id": 987654, "status": "NotFound"},
        {"id": HARDWIRED_STORAGE_ID, "status": "Rejected"},  # hard-wired: stays
    ]
    _, pages = await report(csms, 1)
    assert monitor not in monitor_ids(pages)


async def test_monitoring_base_hardwired_only_removes_custom_and_preconfigured_monitors(
    csms: Csms201, station: Station201
):
    await station.start()
    custom = await set_monitor(csms, "UpperThreshold", 5000, 3)
    _, before = await report(csms, 1)
    assert custom in monitor_ids(before) and len(monitor_ids(before)) > 2
    answer = await csms.call(STATION_ID, "SetMonitoringBase", {"monitoringBase": "HardWiredOnly"})
    assert answer["status"] == "Accepted"
    _, after = await report(csms, 2)
    assert monitor_ids(after) == [HARDWIRED_STORAGE_ID]
    await csms.call(STATION_ID, "SetMonitoringBase", {"monitoringBase": "FactoryDefault"})
    _, factory = await report(csms, 3)
    assert custom not in monitor_ids(factory) and len(monitor_ids(factory)) > 1


async def test_monitoring_report_pages_and_filters(csms: Csms201, station: Station201):
    await station.start()
    for evse in (1, 2):
        for severity in (0, 1, 2, 3, 5, 6):  # 4: the preconfigured overpower monitor's
            await set_monitor(csms, "UpperThreshold", 1000 * (severity + 1), severity,
                              component={"name": "EVSE", "evse": {"id": evse}})  # fmt: skip
    status, pages = await report(csms, 7)
    assert status == "Accepted" and len(pages) >= 2
    assert [p["seqNo"] for p in pages] == list(range(len(pages)))
    assert [p["tbc"] for p in pages] == [True] * (len(pages) - 1) + [False]
    ids = monitor_ids(pages)
    assert len(ids) == len(set(ids)) >= 12
    _, evse2 = await report(
        csms, 8, componentVariable=[{"component": {"name": "EVSE", "evse": {"id": 2}}}]
    )
    assert {m["component"]["evse"]["id"] for p in evse2 for m in p["monitor"]} == {2}
    status, _ = await report(csms, 9, monitoringCriteria=["DeltaMonitoring"])
    assert status == "EmptyResultSet"


async def test_offline_only_events_as_severe_as_the_queuing_severity_wait_for_the_csms(
    csms: Csms201, station: Station201
):
    station.set_ocpp("MonitoringCtrlr", "OfflineQueuingSeverity", 2)
    await station.start()
    critical = await set_monitor(csms, "UpperThreshold", 5000, 1)
    minor = await set_monitor(csms, "UpperThreshold", 5000, 7)
    await station.start_session(1)
    await wait_events(csms, critical, 1)
    await wait_events(csms, minor, 1)
    await station.sim("ev-pause", "1")
    await wait_events(csms, critical, 2)  # cleared, online
    await wait_events(csms, minor, 2)
    await csms.stop()
    await station.wait_link(connected=False)
    await station.sim("ev-resume", "1")  # trips both again while offline
    await wait_until(lambda: "severity 7) dropped" in station.log(), "the minor event dropped")
    await csms.start()
    (queued,) = (await wait_events(csms, critical, 3))[2:]
    assert not queued.get("cleared", False) and float(queued["actualValue"]) > 5000
    assert len(events_of(csms, minor)) == 2  # the one of the outage was not kept


async def test_monitors_and_level_survive_a_restart(csms: Csms201, station: Station201):
    await station.start()
    monitor = await set_monitor(csms, "LowerThreshold", 100, 4, transaction=True)
    await csms.call(STATION_ID, "SetMonitoringLevel", {"severity": 6})
    await station.restart()
    _, pages = await report(csms, 1, monitoringCriteria=["ThresholdMonitoring"])
    kept = [vm for p in pages for m in p["monitor"] for vm in m["variableMonitoring"]
            if vm["id"] == monitor]  # fmt: skip
    assert kept == [
        {"id": monitor, "transaction": True, "value": 100, "type": "LowerThreshold", "severity": 4}
    ]
    answer = await csms.call(
        STATION_ID,
        "GetVariables",
        {
            "getVariableData": [
                {
                    "component": {"name": "MonitoringCtrlr"},
                    "variable": {"name": "ActiveMonitoringLevel"},
                }
            ]
        },  # fmt: skip
    )
    assert answer["getVariableResult"][0]["attributeValue"] == "6"
    assert (await station.status())["monitoring"]["level"] == 6  # chargerctl status
    assert calls(csms, "NotifyMonitoringReport")


async def test_set_variable_monitoring_rejects_what_the_spec_rejects(
    csms: Csms201, station: Station201
):
    await station.start()
    storage = {"component": {"name": "Controller"}, "variable": {"name": "StorageAvailable"}}
    results = await set_monitors(
        csms,
        item("LowerThreshold", 10**6, 2, id=HARDWIRED_STORAGE_ID, **storage),  # N04.FR.18
        item("UpperThreshold", 10**7, 3),  # above EVSE.Power's maxLimit (N04.FR.06)
        item("Delta", -5, 3),  # N04.FR.14
    )
    assert [r["status"] for r in results] == ["Rejected", "Rejected", "Rejected"]
    _, pages = await report(csms, 1, componentVariable=[storage])
    assert [vm["value"] for p in pages for m in p["monitor"] for vm in m["variableMonitoring"]] \
        == [50_000_000]  # the hard-wired monitor as built  # fmt: skip


async def test_a_changed_preconfigured_monitor_reports_as_a_custom_monitor(
    csms: Csms201, station: Station201
):
    await station.start()
    evse1_power = {"component": EVSE1, "variable": POWER}
    _, pages = await report(csms, 1, componentVariable=[evse1_power])
    (preconfigured,) = monitor_ids(pages)
    (result,) = await set_monitors(csms, item("UpperThreshold", 5000, 4, id=preconfigured))
    assert result["status"] == "Accepted" and result["id"] == preconfigured
    await station.start_session(1)
    (event,) = await wait_events(csms, preconfigured, 1)
    assert event["eventNotificationType"] == "CustomMonitor"  # N04.FR.15


@pytest.mark.parametrize("action", ["SetVariableMonitoring", "ClearVariableMonitoring"])
async def test_more_items_than_items_per_message_is_a_callerror(
    csms: Csms201, station: Station201, action: str
):
    await station.start()
    answer = await csms.call(
        STATION_ID,
        "GetVariables",
        {"getVariableData": [{"component": {"name": "MonitoringCtrlr"},
                              "variable": {"name": "ItemsPerMessage", "instance": action}}]},
    )  # fmt: skip
    limit = int(answer["getVariableResult"][0]["attributeValue"])
    if action == "SetVariableMonitoring":
        payload: dict[str, Any] = {"setMonitoringData": [item("Delta", n, 5)
                                                         for n in range(limit + 1)]}  # fmt: skip
    else:
        payload = {"id": list(range(1, limit + 2))}
    with pytest.raises(CallErrorReceived) as refused:
        await csms.call(STATION_ID, action, payload)
    assert refused.value.code == "OccurrenceConstraintViolation"  # N04.FR.09, N06.FR.06
    _, pages = await report(csms, 2, monitoringCriteria=["DeltaMonitoring"])
    assert pages == []  # nothing of the refused message was set


async def test_a_threshold_tripped_before_a_restart_clears_after_it(
    csms: Csms201, station: Station201
):
    await station.start()
    monitor = await set_monitor(csms, "UpperThreshold", 5000, 3)
    await station.start_session(1)
    await wait_events(csms, monitor, 1)
    await station.stop()
    await station.start()  # the simulated EV draws nothing after the restart
    cleared = (await wait_events(csms, monitor, 2))[1]
    assert cleared["cleared"] is True and float(cleared["actualValue"]) <= 5000  # N07.FR.14
