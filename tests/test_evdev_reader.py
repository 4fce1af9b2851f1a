"""Keyboard-emulating USB card readers: the decoding of key events into UIDs, fed with
events built from the `evdev` library's own classes and codes, and the device errors.

This machine has no /dev/uinput, so no virtual input device can be made: grabbing and
reading a real device is not exercised here (see docs/HARDWARE.md).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from evdev import InputEvent, ecodes

from hal.drivers.evdev_reader import EvdevReader, KeyDecoder
from hal.interfaces import CardReader, DeviceError, FaultCode, FaultRaised, HalEvent

KEY_STEP_S = 0.004  # a reader types fast: a few ms per key


class Typist:
    """Key events as a reader's firmware sends them: MSC scan, key down, SYN, key up, SYN."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.at = start

    def _event(self, kind: int, code: int, value: int) -> InputEvent:
        sec = int(self.at)
        return InputEvent(sec, int((self.at - sec) * 1_000_000), kind, code, value)

    def key(self, code: int, value: int) -> list[InputEvent]:
        events = [
            self._event(ecodes.EV_MSC, ecodes.MSC_SCAN, 0x70000 + code),
            self._event(ecodes.EV_KEY, code, value),
            self._event(ecodes.EV_SYN, ecodes.SYN_REPORT, 0),
        ]
        self.at += KEY_STEP_S
        return events

    def press(self, code: int, shift: bool = False) -> list[InputEvent]:
        if not shift:
            return self.key(code, 1) + self.key(code, 0)
        return (
            self.key(ecodes.KEY_LEFTSHIFT, 1)
            + self.key(code, 1)
            + self.key(code, 0)
            + self.key(ecodes.KEY_LEFTSHIFT, 0)
        )

    def text(self, text: str, *, shift_letters: bool = True, keypad: bool = False,
             enter: int = ecodes.KEY_ENTER) -> list[InputEvent]:  # fmt: skip
        events: list[InputEvent] = []
        for char in text:
            name = f"KEY_KP{char}" if keypad and char.isdigit() else f"KEY_{char.upper()}"
            events += self.press(ecodes.ecodes[name], shift=shift_letters and char.isalpha())
        return events + self.press(enter)

    def pause(self, seconds: float) -> None:
        self.at += seconds


def decoded(decoder: KeyDecoder, events: list[InputEvent]) -> list[str]:
    return [uid for event in events if (uid := decoder.feed(event)) is not None]


@pytest.fixture
def typist() -> Typist:
    return Typist()


def test_hex_uid_typed_with_shifted_letters_is_the_uid_in_upper_case(typist: Typist) -> None:
    assert decoded(KeyDecoder(), typist.text("04A224B2C53F80")) == ["04A224B2C53F80"]


def test_letters_typed_without_shift_are_upper_cased_too(typist: Typist) -> None:
    events = typist.text("deadbeef", shift_letters=False)
    assert decoded(KeyDecoder(), events) == ["DEADBEEF"]


def test_decimal_uid_is_kept_as_typed_with_its_leading_zeros(typist: Typist) -> None:
    assert decoded(KeyDecoder(), typist.text("0012345678")) == ["0012345678"]


def test_keypad_digits_and_keypad_enter(typist: Typist) -> None:
    events = typist.text("3735928559", keypad=True, enter=ecodes.KEY_KPENTER)
    assert decoded(KeyDecoder(), events) == ["3735928559"]


def test_cards_one_after_the_other_are_separate_uids(typist: Typist) -> None:
    events = typist.text("DEADBEEF")
    typist.pause(2.0)
    events += typist.text("DEADBEEF") + typist.text("0102030405060708090A")
    assert decoded(KeyDecoder(), events) == ["DEADBEEF", "DEADBEEF", "0102030405060708090A"]


def test_autorepeat_and_releases_add_nothing(typist: Typist) -> None:
    events = typist.key(ecodes.KEY_1, 1) + typist.key(ecodes.KEY_1, 2) + typist.key(ecodes.KEY_1, 2)
    events += typist.key(ecodes.KEY_1, 0) + typist.press(ecodes.KEY_ENTER)
    assert decoded(KeyDecoder(), events) == ["1"]


def test_a_shifted_digit_spoils_the_entry_and_the_next_one_is_clean(typist: Typist) -> None:
    decoder = KeyDecoder()
    events = typist.press(ecodes.KEY_1) + typist.press(ecodes.KEY_2, shift=True)
    events += typist.press(ecodes.KEY_ENTER) + typist.text("CAFE")
    assert decoded(decoder, events) == ["CAFE"]
    assert decoder.dropped == 1


def test_shift_held_by_either_key_and_released_again(typist: Typist) -> None:
    events = typist.key(ecodes.KEY_RIGHTSHIFT, 1) + typist.press(ecodes.KEY_A)
    events += typist.key(ecodes.KEY_RIGHTSHIFT, 0) + typist.press(ecodes.KEY_7)
    events += typist.press(ecodes.KEY_ENTER)
    assert decoded(KeyDecoder(), events) == ["A7"]


def test_a_key_that_is_no_uid_character_spoils_the_entry(typist: Typist) -> None:
    decoder = KeyDecoder()
    events = typist.press(ecodes.KEY_1) + typist.press(ecodes.KEY_MINUS) + typist.text("2")
    assert decoded(decoder, events) == []
    assert decoder.dropped == 1


def test_an_entry_longer_than_an_id_tag_is_dropped(typist: Typist) -> None:
    decoder = KeyDecoder()
    assert decoded(decoder, typist.text("1" * 21)) == []
    assert decoded(decoder, typist.text("1" * 20)) == ["1" * 20]
    assert decoder.dropped == 1


def test_keys_left_from_an_interrupted_read_do_not_prefix_the_next_card(typist: Typist) -> None:
    decoder = KeyDecoder()
    events = typist.press(ecodes.KEY_1) + typist.press(ecodes.KEY_2)
    typist.pause(1.5)
    events += typist.text("DEADBEEF")
    assert decoded(decoder, events) == ["DEADBEEF"]
    assert decoder.dropped == 1


def test_a_lone_enter_is_no_card(typist: Typist) -> None:
    decoder = KeyDecoder()
    assert decoded(decoder, typist.press(ecodes.KEY_ENTER)) == []
    assert decoder.dropped == 0


# --- the device -------------------------------------------------------------------------


def test_driver_is_a_card_reader() -> None:
    assert isinstance(EvdevReader(1, "/dev/input/event0"), CardReader)


def test_missing_device_is_an_error_naming_the_path() -> None:
    path = "/dev/input/by-id/usb-NoSuch_Reader-event-kbd"
    with pytest.raises(DeviceError, match="no such input device") as raised:
        EvdevReader(1, path).open()
    assert path in str(raised.value)


def test_a_file_that_is_no_input_device_is_an_error_saying_so() -> None:
    with pytest.raises(DeviceError, match="/dev/null: not an input event device"):
        EvdevReader(1, "/dev/null").open()


async def test_a_missing_reader_is_a_reader_failure_and_charging_is_left_alone() -> None:
    path = "/dev/input/by-id/usb-NoSuch_Reader-event-kbd"
    seen: list[HalEvent] = []
    arrived = asyncio.Event()

    def emit(event: HalEvent) -> None:
        seen.append(event)
        arrived.set()

    reader = EvdevReader(2, path, retry_s=0.05)
    await reader.start(emit)
    try:
        async with asyncio.timeout(2.0):
            await arrived.wait()
        await asyncio.sleep(0.2)  # retries go on, but the failure is reported once
    finally:
        await reader.stop()
    assert len(seen) == 1
    (fault,) = seen
    assert isinstance(fault, FaultRaised)
    assert (fault.connector, fault.code) == (2, FaultCode.ReaderFailure)
    assert path in fault.info


def test_evdev_is_imported_only_when_a_reader_is_opened() -> None:
    script = (
        "import sys, hal.drivers.evdev_reader, hal.builders, hal.registry\n"
        "assert 'evdev' not in sys.modules, 'imported at module load'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).parents[1])
