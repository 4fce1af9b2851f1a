"""Start-up: BootNotification and the first statuses."""

from __future__ import annotations

from devcsms import Csms

from .conftest import MODEL, STATION_ID, VENDOR, Station, calls, wait_call


async def test_boot_notification_then_all_connectors_available(csms: Csms, station: Station):
    mark = await station.start()
    sent = calls(csms, after=mark)
    assert sent[0].action == "BootNotification"
    assert sent[0].payload["chargePointVendor"] == VENDOR
    assert sent[0].payload["chargePointModel"] == MODEL
    assert csms.ledger.boot_count == {STATION_ID: 1}
    statuses = {e.payload["connectorId"]: e.payload for e in calls(csms, "StatusNotification")}
    assert sorted(statuses) == [0, 1, 2]
    for payload in statuses.values():
        assert (payload["status"], payload["errorCode"]) == ("Available", "NoError")
    status = await station.status()
    assert status["link"]["state"] == "connected"
    assert [c["status"] for c in status["connectors"]] == ["Available", "Available"]


async def test_boot_pending_sends_nothing_else_until_accepted(csms: Csms, station: Station):
    csms.boot_status, csms.boot_interval = "Pending", 1
    mark = await station.start(wait=False)
    pending = await wait_call(csms, "BootNotification", after=mark)
    csms.boot_status = "Accepted"
    accepted = await wait_call(csms, "BootNotification", after=pending.index + 1)
    assert accepted.time - pending.time >= 0.9, "retried before the interval given"
    assert [e.action for e in calls(csms, after=mark) if e.index < accepted.index] == [
        "BootNotification"
    ]
    await station.wait_statuses_reported(after=accepted.index)
    assert csms.ledger.registration[STATION_ID] == "Accepted"
    assert csms.ledger.boot_count[STATION_ID] == 2
    assert (await station.status())["registration"] == "Accepted"


async def test_boot_rejected_sends_nothing_else_until_accepted(csms: Csms, station: Station):
    csms.boot_status, csms.boot_interval = "Rejected", 1
    mark = await station.start(wait=False)
    rejected = await wait_call(csms, "BootNotification", after=mark)
    csms.boot_status = "Accepted"
    accepted = await wait_call(csms, "BootNotification", after=rejected.index + 1)
    assert accepted.time - rejected.time >= 0.9, "retried before the interval given"
    await station.wait_statuses_reported(after=accepted.index)
    assert [e.action for e in calls(csms, after=mark)][:2] == ["BootNotification"] * 2


async def test_heartbeat_follows_interval_from_boot_notification(csms: Csms, station: Station):
    csms.heartbeat_interval = 1
    mark = await station.start()
    boot = calls(csms, "BootNotification", mark)[0]
    beat = await wait_call(csms, "Heartbeat", after=mark, timeout=3)
    assert 0.8 <= beat.time - boot.time <= 2.5
    answer = await csms.call(STATION_ID, "GetConfiguration", {"key": ["HeartbeatInterval"]})
    assert answer["configurationKey"][0]["value"] == "1"


async def test_reconnect_is_not_a_reboot_but_reports_statuses_again(csms: Csms, station: Station):
    await station.start()
    await station.sim("plug", "2")
    await station.wait_status(2, "Preparing")
    await wait_call(csms, "StatusNotification", connectorId=2, status="Preparing")
    after = len(csms.ledger.entries)
    await csms.disconnect(STATION_ID)
    await csms.wait_connected(STATION_ID)
    await station.wait_statuses_reported(after=after)
    assert csms.ledger.boot_count[STATION_ID] == 1
    assert csms.ledger.status[(STATION_ID, 2)] == ("Preparing", "NoError")
