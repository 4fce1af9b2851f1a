"""OCPP 1.6 Remote Trigger: TriggerMessage for each message, sent after the answer."""

from __future__ import annotations

from typing import Any

from devcsms import Csms

from .conftest import STATION_ID, Station, calls, wait_call, wait_until


async def trigger(csms: Csms, message: str, connector: int | None = None) -> tuple[str, int]:
    """(the answer's status, the ledger index before the request)."""
    mark = len(csms.ledger.entries)
    payload: dict[str, Any] = {"requestedMessage": message}
    if connector is not None:
        payload["connectorId"] = connector
    answer = await csms.call(STATION_ID, "TriggerMessage", payload)
    return answer["status"], mark


async def test_heartbeat(csms: Csms, station: Station):
    await station.start()
    status, mark = await trigger(csms, "Heartbeat")
    assert status == "Accepted"
    await wait_call(csms, "Heartbeat", after=mark)


async def test_boot_notification_when_registered(csms: Csms, station: Station):
    await station.start()
    status, mark = await trigger(csms, "BootNotification")
    assert status == "Accepted"
    await wait_call(csms, "BootNotification", after=mark)


async def test_status_notification_of_one_connector_and_of_all(csms: Csms, station: Station):
    await station.start()
    status, mark = await trigger(csms, "StatusNotification", 2)
    assert status == "Accepted"
    await wait_call(csms, "StatusNotification", after=mark, connectorId=2, status="Available")
    assert [e.payload["connectorId"] for e in calls(csms, "StatusNotification", mark)] == [2]
    status, mark = await trigger(csms, "StatusNotification")
    assert status == "Accepted"
    await station.wait_statuses_reported(after=mark)


async def test_meter_values_of_one_connector_and_of_all(csms: Csms, station: Station):
    await station.start()
    tx_id = await station.start_session(1)
    status, mark = await trigger(csms, "MeterValues", 1)
    assert status == "Accepted"
    entry = await wait_call(csms, "MeterValues", after=mark, connectorId=1, transactionId=tx_id)
    contexts = {v.get("context") for mv in entry.payload["meterValue"] for v in mv["sampledValue"]}
    assert contexts == {"Trigger"}
    status, mark = await trigger(csms, "MeterValues")
    assert status == "Accepted"

    def both() -> bool:
        seen = {
            e.payload["connectorId"]
            for e in calls(csms, "MeterValues", mark)
            if e.payload["meterValue"][0]["sampledValue"][0].get("context") == "Trigger"
        }
        return seen == {1, 2}

    await wait_until(both, "triggered MeterValues of connectors 1 and 2")


async def test_diagnostics_and_firmware_status_are_idle_when_nothing_runs(
    csms: Csms, station: Station
):
    await station.start()
    for message in ("DiagnosticsStatusNotification", "FirmwareStatusNotification"):
        status, mark = await trigger(csms, message)
        assert status == "Accepted"
        await wait_call(csms, message, after=mark, status="Idle")


async def test_a_connector_the_station_does_not_have_is_rejected(csms: Csms, station: Station):
    await station.start()
    for message in ("MeterValues", "StatusNotification"):
        status, mark = await trigger(csms, message, 3)
        assert status == "Rejected"
    status, _ = await trigger(csms, "MeterValues", 0)  # no station-wide meter
    assert status == "Rejected"


async def test_boot_notification_while_pending_is_sent_at_once(csms: Csms, station: Station):
    csms.boot_status, csms.boot_interval = "Pending", 300  # next attempt only in 5 minutes
    mark = await station.start(wait=False)
    await wait_call(csms, "BootNotification", after=mark)
    csms.boot_status = "Accepted"
    status, after = await trigger(csms, "BootNotification")
    assert status == "Accepted"
    await wait_call(csms, "BootNotification", after=after)
    await station.wait_statuses_reported(after=after)
