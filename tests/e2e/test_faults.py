"""Hardware faults end the transaction and are reported with their error code."""

from __future__ import annotations

import re

from devcsms import Csms

from .conftest import STATION_ID, Station, run_cli, wait_call


async def test_fault_while_charging_stops_transaction_and_reports_faulted(
    csms: Csms, station: Station
):
    await station.start()
    tx_id = await station.start_session(1, "TAG1")
    after = len(csms.ledger.entries)
    await station.sim("fault", "1", "GroundFailure")
    stop = await wait_call(csms, "StopTransaction", after=after)
    assert stop.payload["transactionId"] == tx_id
    assert stop.payload["reason"] == "Other"
    faulted = await wait_call(csms, "StatusNotification", after=after, connectorId=1)
    assert (faulted.payload["status"], faulted.payload["errorCode"]) == ("Faulted", "GroundFailure")
    await station.wait_status(1, "Faulted")
    connector = await station.connector(1)
    assert connector["error_code"] == "GroundFailure" and connector["offered_a"] == 0
    assert csms.ledger.status[(STATION_ID, 1)] == ("Faulted", "GroundFailure")


async def test_cleared_fault_returns_to_finishing_then_available(csms: Csms, station: Station):
    await station.start()
    await station.start_session(1, "TAG1")
    await station.sim("fault", "1", "GroundFailure")
    faulted = await wait_call(csms, "StatusNotification", connectorId=1, status="Faulted")
    after = faulted.index + 1
    await station.sim("clear", "1")
    finishing = await wait_call(csms, "StatusNotification", after=after, connectorId=1)
    assert (finishing.payload["status"], finishing.payload["errorCode"]) == ("Finishing", "NoError")
    await station.sim("unplug", "1")
    await wait_call(
        csms, "StatusNotification", after=finishing.index, connectorId=1, status="Available"
    )
    await station.wait_status(1, "Available")
    assert csms.ledger.status[(STATION_ID, 1)] == ("Available", "NoError")


async def test_unknown_fault_code_is_refused_with_the_allowed_codes(csms: Csms, station: Station):
    await station.start()
    ctl = ("--socket", str(station.socket), "sim", "fault", "1", "Gremlins")
    result = run_cli(*ctl, module="chargerd.ctl")
    assert result.returncode != 0
    assert "Gremlins" in result.stderr
    assert re.search(r"allowed:.*GroundFailure.*OverVoltage", result.stderr), result.stderr
    assert "Traceback" not in result.stderr
    assert (await station.connector(1))["status"] == "Available"


async def test_meter_failure_while_charging_stops_and_reports_power_meter_failure(
    csms: Csms, station: Station
):
    await station.start()
    tx_id = await station.start_session(1, "TAG1")
    after = len(csms.ledger.entries)
    await station.sim("meter-fail", "1")
    stop = await wait_call(csms, "StopTransaction", after=after)
    assert (stop.payload["transactionId"], stop.payload["reason"]) == (tx_id, "Other")
    faulted = {"status": "Faulted", "errorCode": "PowerMeterFailure"}
    await wait_call(csms, "StatusNotification", after=after, connectorId=1, **faulted)
    await station.sim("meter-restore", "1")
    await wait_call(csms, "StatusNotification", after=after, connectorId=1, status="Finishing")
