"""A card reader on the real daemon: the PN532 driver against a simulated PN532 on a pty.

The simulated chip runs in the test's process; the daemon (a subprocess) opens its pty
as it would open /dev/ttyS0 on a board. Cards are put on the chip's field, so the whole
path is exercised: HSU frames, the driver's debounce, TagPresented, the core, OCPP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from devcsms import Csms
from hal.sim.pn532_device import Pn532Device

from .conftest import Station, wait_call

UID7 = "04A224B2C53F80"
SIM = {"driver": "sim"}


@pytest.fixture
async def pn532() -> AsyncIterator[Pn532Device]:
    device = Pn532Device()
    await device.start()
    yield device
    await device.stop()


@pytest.fixture
def with_reader(station: Station, pn532: Pn532Device) -> Station:
    """The harness's station with a PN532 reader on connector 1's pty."""
    base = station.config

    def config() -> dict[str, Any]:
        cfg = base()
        cfg["connectors"] = [
            {"id": 1, "max_current_a": 32, "phases": 3, "controller": SIM, "meter": SIM,
             "reader": {"driver": "pn532", "port": pn532.port}},
            {"id": 2, "max_current_a": 32, "phases": 3, "controller": SIM, "meter": SIM},
        ]  # fmt: skip
        return cfg

    station.config = config  # type: ignore[method-assign]
    return station


async def test_card_on_the_pn532_authorizes_and_starts_then_stops_the_session(
    csms: Csms, with_reader: Station, pn532: Pn532Device
) -> None:
    mark = await with_reader.start()
    pn532.put_card(UID7)
    auth = await wait_call(csms, "Authorize", after=mark, idTag=UID7)
    await with_reader.wait_status(1, "Preparing")
    await with_reader.sim("plug", "1")
    start = await wait_call(csms, "StartTransaction", after=auth.index, connectorId=1, idTag=UID7)
    await with_reader.wait_status(1, "Charging")
    # still on the reader: one presentation, the session goes on
    await pn532.wait_until(lambda: pn532.commands.count(0x4A) >= 20, timeout=10)
    assert (await with_reader.connector(1))["status"] == "Charging"

    pn532.take_card()  # lifted, and presented again: the same card ends its session
    await pn532.wait_until(lambda: pn532.commands.count(0x4A) >= 30, timeout=10)
    pn532.put_card(UID7)
    stop = await wait_call(csms, "StopTransaction", after=start.index, idTag=UID7)
    assert stop.payload["reason"] == "Local"
    await with_reader.wait_status(1, "Finishing")


async def test_a_silent_reader_is_reported_as_reader_failure_and_charging_goes_on(
    csms: Csms, with_reader: Station, pn532: Pn532Device
) -> None:
    mark = await with_reader.start()
    pn532.go_silent()
    failure = await wait_call(
        csms, "StatusNotification", after=mark, connectorId=1, errorCode="ReaderFailure"
    )
    assert failure.payload["status"] == "Available"  # not Faulted: nothing unsafe
    shown = await with_reader.connector(1)
    assert (shown["error_code"], shown["fault"]) == ("ReaderFailure", None)
    assert shown["warning"]["device"] == f"reader (pn532 on {pn532.port})"
    assert pn532.port in shown["warning"]["reason"]

    start = await with_reader.start_session(1, "TAG1")  # other ways in still work
    assert start

    pn532.go_silent(False)
    back = await wait_call(
        csms, "StatusNotification", after=failure.index, connectorId=1, errorCode="NoError"
    )
    assert back.payload["status"] == "Charging"
    assert "card reader failed" in with_reader.log()
    assert "answers again" in with_reader.log()
