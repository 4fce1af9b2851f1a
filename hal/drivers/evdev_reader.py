"""USB card readers that type the card's UID like a keyboard, read as Linux input events.

Such a reader (most cheap 125 kHz and 13.56 MHz USB readers, "HID keyboard emulation")
types the UID and presses Enter. Left alone, those keystrokes would land on the board's
console; the device is grabbed exclusively (EVIOCGRAB) so only the daemon sees them.

What the UID looks like depends on the reader's firmware: hex (`04A224B2C53F80`) or
decimal (`0012345678`, often the last 4 bytes as a number). It is kept as typed, letters
upper-cased, so the id tag matches what the same reader gives at the CSMS's enrolment
desk. The decoding (`KeyDecoder`) is separate from the device I/O and takes the
`evdev` library's own event values; `evdev` itself is imported only when a reader is
opened, so boards without one need not have it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hal.interfaces import (
    DeviceError,
    EventSink,
    FaultCleared,
    FaultCode,
    FaultRaised,
    TagPresented,
)

if TYPE_CHECKING:
    from evdev import InputDevice, InputEvent

log = logging.getLogger(__name__)

EV_KEY = 0x01  # linux/input-event-codes.h; the same values as evdev.ecodes
KEY_DOWN = 1  # value of a key press (0 release, 2 autorepeat)
MAX_ID_LENGTH = 20  # OCPP 1.6 idTag is CiString20 (a 10-byte UID in hex)
GAP_S = 1.0  # keys further apart than this are not one card's UID
RETRY_S = 5.0


def _key_tables() -> tuple[dict[int, str], set[int], set[int]]:
    """Characters by key code (digits, letters, keypad digits), shift keys, Enter keys;
    built from evdev's code names, so codes are the kernel's."""
    from evdev import ecodes

    chars: dict[int, str] = {}
    for name in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        chars[ecodes.ecodes[f"KEY_{name}"]] = name
    for digit in "0123456789":
        chars[ecodes.ecodes[f"KEY_KP{digit}"]] = digit
    shift = {ecodes.KEY_LEFTSHIFT, ecodes.KEY_RIGHTSHIFT}
    enter = {ecodes.KEY_ENTER, ecodes.KEY_KPENTER}
    return chars, shift, enter


class KeyDecoder:
    """Key events in, UIDs out: `feed()` returns the UID when Enter ends it.

    Digits and letters are kept (letters upper-case: Shift+A and A are the same UID
    character); a shifted digit (a symbol on any layout), another key, an over-long
    entry or a pause longer than `gap_s` inside an entry spoil it: it is dropped at
    Enter with a log line, and the next entry starts clean."""

    def __init__(self, gap_s: float = GAP_S) -> None:
        self._chars, self._shift_keys, self._enter_keys = _key_tables()
        self.gap_s = gap_s
        self.dropped = 0  # spoiled entries
        self._typed: list[str] = []
        self._spoiled = ""
        self._shift: set[int] = set()
        self._last_at: float | None = None

    def feed(self, event: InputEvent) -> str | None:
        if event.type != EV_KEY:
            return None  # EV_SYN, EV_MSC scan codes, LEDs
        if event.code in self._shift_keys:
            if event.value == 0:
                self._shift.discard(event.code)
            else:
                self._shift.add(event.code)
            return None
        if event.value != KEY_DOWN:
            return None  # releases, and autorepeat a reader never means
        at = event.timestamp()
        if self._last_at is not None and at - self._last_at > self.gap_s and self._typed:
            self._drop(f"a pause of {at - self._last_at:.1f} s inside the UID")
        self._last_at = at
        if event.code in self._enter_keys:
            return self._finish()
        char = self._chars.get(event.code)
        if char is None or (self._shift and char.isdigit()):
            self._spoiled = self._spoiled or f"key code {event.code} is no UID character"
        self._typed.append(char or "?")
        return None

    def _finish(self) -> str | None:
        typed, spoiled = "".join(self._typed), self._spoiled
        self._typed, self._spoiled = [], ""
        if not typed:
            return None  # a lone Enter
        if not spoiled and len(typed) > MAX_ID_LENGTH:
            spoiled = f"{len(typed)} characters; an id tag has at most {MAX_ID_LENGTH}"
        if spoiled:
            self.dropped += 1
            log.warning("card reader: dropped %r: %s", typed, spoiled)
            return None
        return typed

    def _drop(self, why: str) -> None:
        self.dropped += 1
        log.warning("card reader: dropped %r: %s", "".join(self._typed), why)
        self._typed, self._spoiled = [], ""


class EvdevReader:
    """A keyboard-emulating card reader at `device` (best a /dev/input/by-id/ path, which
    survives re-plugging and other USB devices)."""

    def __init__(self, connector: int, device: str, *, retry_s: float = RETRY_S) -> None:
        self.connector = connector
        self.device = device
        self.retry_s = retry_s
        self.failed = False
        self.last_error = ""
        self.decoder: KeyDecoder | None = None
        self._emit: EventSink = lambda event: None
        self._task: asyncio.Task[None] | None = None
        self._input: InputDevice | None = None

    async def start(self, emit: EventSink) -> None:
        self._emit = emit
        self._task = asyncio.create_task(self._run(), name=f"evdev-reader-{self.connector}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._close()

    def open(self) -> InputDevice:
        """Open and grab the device; DeviceError naming the path and what to do."""
        if not Path(self.device).exists():
            raise DeviceError(
                f"card reader {self.device}: no such input device (is it plugged in? "
                "see ls /dev/input/by-id/)"
            )
        try:
            import evdev
        except ImportError as exc:  # a dependency, but one that needs a compiler to install
            raise DeviceError(
                f"card reader {self.device}: the evdev package is missing ({exc}); "
                "install it: pip install evdev (needs gcc and the kernel headers)"
            ) from exc
        try:
            device = evdev.InputDevice(self.device)
        except OSError as exc:
            raise DeviceError(f"card reader {self.device}: {_why(exc)}") from exc
        try:
            device.grab()  # its keystrokes reach nobody else (the console, a login)
        except OSError as exc:
            device.close()
            raise DeviceError(
                f"card reader {self.device}: cannot grab it: {exc.strerror or exc} "
                "(another program holds it)"
            ) from exc
        return device

    async def _run(self) -> None:
        while True:
            try:
                self._input = self.open()
                self.decoder = self.decoder or KeyDecoder()
                self._answered()
                log.info("connector %d: card reader %s (%s)", self.connector, self.device,
                         self._input.name)  # fmt: skip
                async for event in self._input.async_read_loop():
                    self._take(event)
                raise DeviceError(f"card reader {self.device}: input ended")
            except DeviceError as exc:
                self._trouble(str(exc))
            except OSError as exc:  # unplugged while reading: ENODEV
                self._trouble(f"card reader {self.device}: {exc.strerror or exc}")
            self._close()
            await asyncio.sleep(self.retry_s)

    def _take(self, event: Any) -> None:
        assert self.decoder is not None
        uid = self.decoder.feed(event)
        if uid is not None:
            log.info("connector %d: card %s at the reader", self.connector, uid)
            self._emit(TagPresented(uid, self.connector))

    def _trouble(self, why: str) -> None:
        self.last_error = why
        if not self.failed:
            self.failed = True
            log.error("connector %d: %s", self.connector, why)
            self._emit(FaultRaised(self.connector, FaultCode.ReaderFailure, why))

    def _answered(self) -> None:
        if self.failed:
            self.failed = False
            log.info("connector %d: card reader %s is back", self.connector, self.device)
            self._emit(FaultCleared(self.connector, FaultCode.ReaderFailure))

    def _close(self) -> None:
        device, self._input = self._input, None
        if device is None:
            return
        with contextlib.suppress(OSError):
            device.ungrab()
        with contextlib.suppress(OSError):
            device.close()


def _why(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            "permission denied (the daemon's user needs the input group, and the systemd "
            "unit a DeviceAllow for it)"
        )
    if exc.errno in (errno.ENOTTY, errno.EINVAL):
        return "not an input event device (give /dev/input/by-id/...-event-kbd)"
    return exc.strerror or str(exc)
