"""BootNotification's content, and what a Pending registration allows (OCPP 1.6 + errata)."""

from __future__ import annotations

from devcsms import Csms

from .conftest import STATION_ID, Station, calls, wait_call


async def test_boot_notification_sends_the_serial_as_charge_point_and_charge_box_serial(
    csms: Csms, station: Station
):
    """chargeBoxSerialNumber is deprecated in 1.6, but many CSMSes still read only it."""
    station.overrides.append("station.serial=SN-0042")
    mark = await station.start()
    boot = calls(csms, "BootNotification", mark)[0]
    assert boot.payload["chargePointSerialNumber"] == "SN-0042"
    assert boot.payload["chargeBoxSerialNumber"] == "SN-0042"


async def test_remote_start_and_stop_are_rejected_while_the_registration_is_pending(
    csms: Csms, station: Station
):
    """1.6 errata: RemoteStartTransaction and RemoteStopTransaction are not allowed in the
    Pending state; once Accepted, a remote start is carried out."""
    csms.boot_status, csms.boot_interval = "Pending", 1
    mark = await station.start(wait=False)
    pending = await wait_call(csms, "BootNotification", after=mark)
    start = {"connectorId": 1, "idTag": "REMOTE1"}
    assert await csms.call(STATION_ID, "RemoteStartTransaction", start) == {"status": "Rejected"}
    stop = {"transactionId": 1}
    assert await csms.call(STATION_ID, "RemoteStopTransaction", stop) == {"status": "Rejected"}

    csms.boot_status = "Accepted"
    accepted = await wait_call(csms, "BootNotification", after=pending.index + 1)
    await station.wait_statuses_reported(after=accepted.index)
    assert csms.ledger.status[(STATION_ID, 1)] == ("Available", "NoError")  # nothing was kept

    assert await csms.call(STATION_ID, "RemoteStartTransaction", start) == {"status": "Accepted"}
    await station.wait_status(1, "Preparing")
