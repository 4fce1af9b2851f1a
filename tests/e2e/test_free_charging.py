"""OCPP 1.6 end to end: free charging (YAML `auth: {free, id_tag}`) and MinimumStatusDuration,
with the real daemon on simulated hardware against the strict 1.6 CSMS."""

from __future__ import annotations

import time

from devcsms import Csms

from .conftest import STATION_ID, Station, calls, wait_call


async def test_free_charging_starts_at_plug_in_and_reports_the_transaction(
    csms: Csms, station: Station
):
    station.overrides += ["auth.free=true", "auth.id_tag=HOME"]
    await station.start()
    after = len(csms.ledger.entries)
    await station.sim("plug", "1")
    started = await wait_call(csms, "StartTransaction", after=after, connectorId=1)
    assert started.payload["idTag"] == "HOME"
    await station.wait_status(1, "Charging")
    assert not calls(csms, "Authorize", after)  # nobody was asked
    await station.sim("unplug", "1")
    stopped = await wait_call(csms, "StopTransaction", after=after)
    assert stopped.payload["reason"] == "EVDisconnected"
    assert stopped.payload["meterStop"] >= started.payload["meterStart"]


async def test_without_free_charging_plugging_in_starts_nothing(csms: Csms, station: Station):
    await station.start()
    after = len(csms.ledger.entries)
    await station.sim("plug", "1")
    await station.wait_status(1, "Preparing")
    await wait_call(csms, "StatusNotification", after=after, connectorId=1, status="Preparing")
    assert not calls(csms, "StartTransaction", after)


async def test_a_status_is_reported_only_once_it_held_the_minimum_status_duration(
    csms: Csms, station: Station
):
    station.ocpp["MinimumStatusDuration"] = 2
    await station.start()
    after = len(csms.ledger.entries)
    await station.sim("plug", "2")
    await station.sim("unplug", "2")  # Preparing for a moment: never reported
    plugged_at = time.monotonic()
    await station.sim("plug", "1")
    await wait_call(csms, "StatusNotification", after=after, connectorId=1, status="Preparing")
    assert time.monotonic() - plugged_at >= 2
    # connector 2 went back to what was reported: nothing to say. Its timer ran out before
    # connector 1's; whatever that pass posted is on the wire before a triggered Heartbeat
    trigger = {"requestedMessage": "Heartbeat"}
    assert await csms.call(STATION_ID, "TriggerMessage", trigger) == {"status": "Accepted"}
    await wait_call(csms, "Heartbeat", after=after)
    reported = calls(csms, "StatusNotification", after)
    assert [e for e in reported if e.payload["connectorId"] == 2] == []


async def test_minimum_status_duration_is_a_configuration_key(csms: Csms, station: Station):
    await station.start()
    changed = await csms.call(
        STATION_ID, "ChangeConfiguration", {"key": "MinimumStatusDuration", "value": "5"}
    )
    assert changed == {"status": "Accepted"}
    got = await csms.call(STATION_ID, "GetConfiguration", {"key": ["MinimumStatusDuration"]})
    assert got["configurationKey"] == [
        {"key": "MinimumStatusDuration", "readonly": False, "value": "5"}
    ]
