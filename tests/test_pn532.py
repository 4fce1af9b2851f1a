"""The PN532 card reader driver against the simulated PN532 on a real pty (no mocks).

Frames are checked against the byte strings of NXP UM0701-02 §6.2; the driver is run as
the daemon runs it, with a fast poll so a test takes well under a second per behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from chargerd.config import ConfigError, load_config
from hal.drivers.pn532 import Pn532Reader, Presence
from hal.drivers.pn532_protocol import (
    ACK,
    ERROR_FRAME,
    GET_FIRMWARE_VERSION,
    IN_LIST_PASSIVE_TARGET,
    NACK,
    RF_CONFIGURATION,
    SAM_CONFIGURATION,
    Ack,
    ErrorFrame,
    Frame,
    FrameReader,
    Nack,
    ProtocolError,
    command,
    first_target_uid,
    reply,
    target_reply,
)
from hal.interfaces import CardReader, FaultCleared, FaultCode, FaultRaised, HalEvent, TagPresented
from hal.options import DeviceConfig
from hal.sim.pn532_device import Pn532Device

UID4 = "DEADBEEF"
UID7 = "04A224B2C53F80"
FAST = {"timeout_s": 0.2, "poll_interval_s": 0.05, "removal_s": 0.3, "retry_s": 0.2}
WAIT_S = 3.0


class Events:
    """What the driver emitted, with waiting for a condition on it."""

    def __init__(self) -> None:
        self.seen: list[HalEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: HalEvent) -> None:
        self.seen.append(event)
        self._changed.set()

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.seen if isinstance(e, kind)]

    async def wait(self, predicate: Callable[[], bool], timeout: float = WAIT_S) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()


async def polls(device: Pn532Device, count: int) -> None:
    """Let the driver poll `count` more times."""
    target = device.commands.count(IN_LIST_PASSIVE_TARGET) + count
    await device.wait_until(lambda: device.commands.count(IN_LIST_PASSIVE_TARGET) >= target)


@pytest.fixture
async def device() -> AsyncIterator[Pn532Device]:
    sim = Pn532Device()
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def running(device: Pn532Device) -> AsyncIterator[tuple[Pn532Reader, Events]]:
    reader = Pn532Reader(1, device.port, **FAST)
    events = Events()
    await reader.start(events)
    yield reader, events
    await reader.stop()


# --- frames ---------------------------------------------------------------------------------


def test_command_frame_is_the_manuals_get_firmware_version() -> None:
    assert command(GET_FIRMWARE_VERSION) == bytes.fromhex("00 00 FF 02 FE D4 02 2A 00")


def test_reader_splits_ack_reply_nack_and_error_frame_out_of_noise() -> None:
    firmware = reply(GET_FIRMWARE_VERSION, bytes([0x32, 1, 6, 7]))
    reader = FrameReader()
    items = reader.feed(b"\x12\x34" + ACK + firmware + NACK + ERROR_FRAME)
    assert items == [Ack(), Frame(0xD5, bytes([0x03, 0x32, 1, 6, 7])), Nack(), ErrorFrame()]
    assert reader.skipped == 2


def test_reader_waits_for_the_rest_of_a_frame_fed_byte_by_byte() -> None:
    reader = FrameReader()
    raw = ACK + reply(IN_LIST_PASSIVE_TARGET, target_reply(bytes.fromhex(UID7)))
    items = [item for byte in raw for item in reader.feed(bytes([byte]))]
    assert items[0] == Ack()
    assert isinstance(items[1], Frame)
    assert first_target_uid(items[1]) == bytes.fromhex(UID7)


def test_frame_with_bad_data_checksum_is_dropped_and_the_next_one_read() -> None:
    good = reply(IN_LIST_PASSIVE_TARGET, target_reply(bytes.fromhex(UID4)))
    spoiled = bytearray(good)
    spoiled[-2] ^= 0xFF
    reader = FrameReader()
    items = reader.feed(bytes(spoiled) + good)
    assert len(items) == 1 and first_target_uid(items[0]) == bytes.fromhex(UID4)  # type: ignore[arg-type]
    assert reader.bad_frames == 1


def test_length_checksum_mismatch_is_not_taken_for_a_frame() -> None:
    reader = FrameReader()
    # 00 FF inside noise, then a length whose LCS does not match
    items = reader.feed(b"\x00\xff\x05\x05\x01\x02" + ACK)
    assert items == [Ack()]


def test_no_card_and_uid_sizes_in_in_list_passive_target_replies() -> None:
    def frame_of(payload: bytes) -> Frame:
        (item,) = FrameReader().feed(reply(IN_LIST_PASSIVE_TARGET, payload))
        assert isinstance(item, Frame)
        return item

    assert first_target_uid(frame_of(b"\x00")) is None
    for uid in ("DEADBEEF", UID7, "0102030405060708090A"):
        assert first_target_uid(frame_of(target_reply(bytes.fromhex(uid)))) == bytes.fromhex(uid)
    with pytest.raises(ProtocolError):
        first_target_uid(frame_of(bytes([1, 1, 0, 4, 8, 5, 1, 2, 3, 4, 5])))  # 5-byte NFCID1


def test_presence_is_one_presentation_until_gone_for_the_removal_time() -> None:
    card = bytes.fromhex(UID4)
    presence = Presence(removal_s=1.0)
    assert presence.seen(card, 0.0)
    assert not presence.seen(card, 0.25)
    assert not presence.seen(None, 0.5)  # lifted briefly…
    assert not presence.seen(card, 0.75)  # …and back: the same presentation
    assert not presence.seen(None, 1.0)
    assert not presence.seen(None, 2.1)  # gone for more than a second
    assert presence.seen(card, 2.3)
    assert presence.seen(bytes.fromhex(UID7), 2.5)  # another card is another presentation


# --- the driver on the simulated chip ---------------------------------------------------------


async def test_driver_is_a_card_reader() -> None:
    assert isinstance(Pn532Reader(1, "/dev/null"), CardReader)


async def test_start_detects_the_firmware_and_configures_the_chip(
    device: Pn532Device, running: tuple[Pn532Reader, Events]
) -> None:
    reader, events = running
    await polls(device, 1)
    assert reader.firmware == "PN532 firmware 1.6"
    assert device.commands[:3] == [GET_FIRMWARE_VERSION, SAM_CONFIGURATION, RF_CONFIGURATION]
    assert device.sam_configured
    assert events.seen == []


@pytest.mark.parametrize("uid", [UID4, UID7])
async def test_card_held_on_the_reader_is_presented_once(
    uid: str, device: Pn532Device, running: tuple[Pn532Reader, Events]
) -> None:
    _, events = running
    device.put_card(uid)
    await events.wait(lambda: bool(events.of(TagPresented)))
    await polls(device, 10)  # well past the removal time, card still there
    assert events.of(TagPresented) == [TagPresented(uid, 1)]


async def test_card_taken_off_and_put_back_is_presented_again(
    device: Pn532Device, running: tuple[Pn532Reader, Events]
) -> None:
    _, events = running
    device.put_card(UID7)
    await events.wait(lambda: len(events.of(TagPresented)) == 1)
    device.take_card()
    await asyncio.sleep(FAST["removal_s"] + 4 * FAST["poll_interval_s"])
    device.put_card(UID7)
    await events.wait(lambda: len(events.of(TagPresented)) == 2)
    assert events.of(TagPresented) == [TagPresented(UID7, 1)] * 2


async def test_card_lifted_for_less_than_the_removal_time_is_one_presentation(
    device: Pn532Device, running: tuple[Pn532Reader, Events]
) -> None:
    _, events = running
    device.put_card(UID4)
    await events.wait(lambda: bool(events.of(TagPresented)))
    device.take_card()
    await polls(device, 2)
    device.put_card(UID4)
    await polls(device, 10)
    assert len(events.of(TagPresented)) == 1


async def test_reply_with_bad_checksum_is_asked_for_again_with_a_nack(
    device: Pn532Device, running: tuple[Pn532Reader, Events]
) -> None:
    reader, events = running
    await polls(device, 1)
    device.put_card(UID4)
    device.corrupt_next_reply()
    await events.wait(lambda: bool(events.of(TagPresented)))
    assert reader.bad_frames == 1
    assert not events.of(FaultRaised)


async def test_garbage_on_the_line_is_skipped_and_reading_goes_on(
    device: Pn532Device, running: tuple[Pn532Reader, Events]
) -> None:
    reader, events = running
    await polls(device, 1)
    device.inject(b"\xff\x13\x37\x00\xff\x09\x09garbage\x00")
    device.put_card(UID7)
    await events.wait(lambda: bool(events.of(TagPresented)))
    assert reader.skipped_bytes > 0
    assert events.of(TagPresented) == [TagPresented(UID7, 1)]
    assert not events.of(FaultRaised)


async def test_silent_reader_is_a_reader_failure_once_and_clears_when_it_answers(
    device: Pn532Device, running: tuple[Pn532Reader, Events]
) -> None:
    _, events = running
    await polls(device, 1)
    device.go_silent()
    await events.wait(lambda: bool(events.of(FaultRaised)))
    tried = device.reads
    await device.wait_until(lambda: device.reads >= tried + 3)  # it keeps trying, silently
    (fault,) = events.of(FaultRaised)
    assert fault.code is FaultCode.ReaderFailure and fault.connector == 1
    assert device.port in fault.info
    device.go_silent(False)
    await events.wait(lambda: bool(events.of(FaultCleared)))
    assert events.of(FaultCleared) == [FaultCleared(1, FaultCode.ReaderFailure)]
    device.put_card(UID4)
    await events.wait(lambda: bool(events.of(TagPresented)))


async def test_a_card_left_on_a_reader_that_was_silent_is_not_presented_again(
    device: Pn532Device, running: tuple[Pn532Reader, Events]
) -> None:
    _, events = running
    device.put_card(UID4)
    await events.wait(lambda: bool(events.of(TagPresented)))
    device.go_silent()
    await events.wait(lambda: bool(events.of(FaultRaised)))
    device.go_silent(False)
    await events.wait(lambda: bool(events.of(FaultCleared)))
    await polls(device, 5)
    assert len(events.of(TagPresented)) == 1


async def test_sleeping_chip_is_woken_by_the_preamble_at_start_and_after_a_brown_out() -> None:
    device = Pn532Device(asleep=True)
    await device.start()
    reader = Pn532Reader(1, device.port, **FAST)
    events = Events()
    try:
        await reader.start(events)
        device.put_card(UID4)
        await events.wait(lambda: bool(events.of(TagPresented)))
        assert device.wake_ups == 1
        device.sleep()
        await device.wait_until(lambda: device.wake_ups == 2)
        await polls(device, 3)
        assert device.sam_configured
        assert not events.of(FaultRaised)  # one lost poll is not a failure
    finally:
        await reader.stop()
        await device.stop()


async def test_missing_port_is_a_reader_failure_naming_the_path() -> None:
    events = Events()
    reader = Pn532Reader(2, "/dev/ttyNOSUCH7", **FAST)
    await reader.start(events)
    try:
        await events.wait(lambda: bool(events.of(FaultRaised)))
    finally:
        await reader.stop()
    (fault,) = events.of(FaultRaised)
    assert fault.connector == 2 and fault.code is FaultCode.ReaderFailure
    assert "/dev/ttyNOSUCH7 does not exist" in fault.info


async def test_stop_ends_polling_and_releases_the_port(device: Pn532Device) -> None:
    reader = Pn532Reader(1, device.port, **FAST)
    await reader.start(Events())
    await polls(device, 2)
    async with asyncio.timeout(1.0):
        await reader.stop()
    count = len(device.commands)
    await asyncio.sleep(4 * FAST["poll_interval_s"])
    assert len(device.commands) == count
    # the port is free again: a second reader (a soft reset) takes it
    again = Pn532Reader(1, device.port, **FAST)
    await again.start(Events())
    await polls(device, 1)
    await again.stop()


# --- configuration ------------------------------------------------------------------------

STATION = """\
station: {id: CP-001}
csms: {url: "ws://127.0.0.1:9000/ocpp"}
connectors:
  - id: 1
    reader:
"""


def _config_errors(tmp_path: Path, reader: str) -> list[str]:
    path = tmp_path / "station.yaml"
    path.write_text(STATION + reader)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [line.replace(str(path), "station.yaml") for line in caught.value.errors]


def test_reader_keys_are_read_with_the_drivers_defaults(tmp_path: Path) -> None:
    path = tmp_path / "station.yaml"
    path.write_text(STATION + "      {driver: pn532, port: /dev/ttyS0}\n")
    (connector,) = load_config(path).connectors
    assert connector.reader == DeviceConfig(
        "pn532",
        {"port": "/dev/ttyS0", "baudrate": 115200, "timeout_s": 0.5, "poll_interval_s": 0.25},
    )
    path.write_text(STATION + "      {driver: evdev, device: /dev/input/by-id/usb-x-event-kbd}\n")
    (connector,) = load_config(path).connectors
    assert connector.reader == DeviceConfig("evdev", {"device": "/dev/input/by-id/usb-x-event-kbd"})


def test_unknown_reader_driver_and_option_are_errors_on_their_lines(tmp_path: Path) -> None:
    assert _config_errors(tmp_path, "      {driver: acr122u}\n") == [
        "station.yaml:6: connectors[0].reader.driver: 'acr122u' is not one of 'pn532', 'evdev'"
    ]
    wrong = "      driver: pn532\n      port: /dev/ttyS0\n      baud: 9600\n"
    (error,) = _config_errors(tmp_path, wrong)
    assert error.startswith("station.yaml:8: connectors[0].reader.baud: unknown key")
    assert "did you mean 'baudrate'?" in error
    (error,) = _config_errors(tmp_path, "      {driver: evdev}\n")
    assert error.startswith("station.yaml:5: connectors[0].reader.device: required key missing")


async def test_sim_wire_puts_a_simulated_pn532_behind_the_real_driver(tmp_path: Path) -> None:
    from hal.registry import build_hardware

    path = tmp_path / "station.yaml"
    path.write_text(
        STATION.replace(
            "connectors:", f"storage: {{dir: {tmp_path}}}\nsim: {{wire: true}}\nconnectors:"
        )  # fmt: skip
        + "      {driver: pn532, port: /dev/ttyS0}\n"
    )
    hardware = await build_hardware(load_config(path))
    try:
        (connector,) = hardware.connectors
        reader = connector.reader
        assert isinstance(reader, Pn532Reader)
        chip = hardware.sim.pn532[1]
        assert reader.port == chip.port != "/dev/ttyS0"
        events = Events()
        await reader.start(events)
        chip.put_card(UID4)
        await events.wait(lambda: bool(events.of(TagPresented)))
        await reader.stop()
        assert events.of(TagPresented) == [TagPresented(UID4, 1)]
    finally:
        await hardware.close()
