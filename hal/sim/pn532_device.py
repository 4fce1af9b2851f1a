"""A simulated PN532 NFC controller on a pty, speaking the HSU framing of NXP UM0701-02.

The driver (`hal.drivers.pn532.Pn532Reader`) opens `Pn532Device.port`, the slave side of
a pty; the device answers on the master side from the asyncio loop (add_reader, no
threads). Tests and `sim.wire` put cards on its field and take them off, make it silent,
send it to sleep (then only the wake-up preamble brings it back), or spoil its replies.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hal.drivers.pn532_protocol import (
    ACK,
    ERROR_FRAME,
    GET_FIRMWARE_VERSION,
    IC_PN532,
    IN_LIST_PASSIVE_TARGET,
    RF_CONFIGURATION,
    SAM_CONFIGURATION,
    TFI_HOST,
    UID_LENGTHS,
    Ack,
    Frame,
    FrameReader,
    Nack,
    reply,
    target_reply,
)
from hal.sim.pty import PtyLine

log = logging.getLogger(__name__)

WAKE_BYTE = 0x55


class Pn532Device:
    """A PN532 on a pty: ACK, then the reply, to GetFirmwareVersion, SAMConfiguration,
    RFConfiguration and InListPassiveTarget (one type A card at most); an error frame
    to any other command; the last reply again on a NACK.

    `asleep=True` is a chip in low-power mode, as after power-up in some HSU boards: it
    ignores everything until it hears 0x55 (the wake-up preamble)."""

    def __init__(self, *, asleep: bool = False, version: tuple[int, int] = (1, 6)) -> None:
        self.asleep = asleep
        self.version = version
        self.commands: list[int] = []  # the command code of every frame it answered
        self.wake_ups = 0
        self.sam_configured = False
        self._card: bytes | None = None
        self._silent = False
        self.reads = 0  # how often the host wrote to the line
        self._corrupt_next = False
        self._last_reply = b""
        self._reader = FrameReader()
        self._line = PtyLine("pn532 device")
        self._changed = asyncio.Condition()

    @property
    def port(self) -> str:
        """The pty slave path the driver opens (after start())."""
        return self._line.port

    # --- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._line.open(self._received)

    async def stop(self) -> None:
        self._line.close()

    # --- the field and the chip's health ----------------------------------------------

    def put_card(self, uid: str | bytes) -> None:
        """A type A card (4-, 7- or 10-byte UID, hex text or bytes) enters the field."""
        raw = bytes.fromhex(uid) if isinstance(uid, str) else uid
        if len(raw) not in UID_LENGTHS:
            raise ValueError(f"a UID of {len(raw)} bytes; allowed: 4, 7 or 10")
        self._card = raw

    def take_card(self) -> None:
        self._card = None

    def go_silent(self, silent: bool = True) -> None:
        """Hear nothing and answer nothing (a cut wire, a dead chip)."""
        self._silent = silent

    def sleep(self) -> None:
        """Back to low-power mode (a brown-out): only a wake-up preamble brings it back."""
        self.asleep = True
        self.sam_configured = False

    def corrupt_next_reply(self) -> None:
        """The next reply goes out with a wrong data checksum (noise on the line)."""
        self._corrupt_next = True

    def inject(self, raw: bytes) -> None:
        """Bytes towards the driver as they are (garbage, half frames)."""
        self._write(raw)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 3.0) -> None:
        """Wait until `predicate()` holds, checked after each command answered."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    # --- the wire ---------------------------------------------------------------------------

    def _received(self, data: bytes) -> None:
        self.reads += 1  # what the host sent, heard even while silent
        if self._silent:
            asyncio.get_running_loop().create_task(self._notify())
            return
        if self.asleep:
            wake = data.find(bytes([WAKE_BYTE]))
            if wake < 0:
                return
            self.asleep = False
            self.wake_ups += 1
            data = data[wake:].lstrip(bytes([WAKE_BYTE]))
        for item in self._reader.feed(data):
            if isinstance(item, Nack):
                self._write(self._last_reply)
            elif isinstance(item, Frame) and item.tfi == TFI_HOST:
                self._write(ACK)
                self._answer(item)
            elif not isinstance(item, Ack):  # an ACK from the host aborts: nothing runs here
                log.debug("pn532 device: ignored %s", item)
        asyncio.get_running_loop().create_task(self._notify())

    def _answer(self, f: Frame) -> None:
        self.commands.append(f.code)
        if f.code == GET_FIRMWARE_VERSION:
            response = reply(f.code, bytes([IC_PN532, *self.version, 0x07]))
        elif f.code == SAM_CONFIGURATION:
            self.sam_configured = True
            response = reply(f.code)
        elif f.code == RF_CONFIGURATION:
            response = reply(f.code)
        elif f.code == IN_LIST_PASSIVE_TARGET:
            card = self._card
            response = reply(f.code, target_reply(card) if card else b"\x00")
        else:
            response = ERROR_FRAME
        self._last_reply = response
        if self._corrupt_next:
            self._corrupt_next = False
            spoiled = bytearray(response)
            spoiled[-2] ^= 0x5A  # the DCS
            response = bytes(spoiled)
        self._write(response)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _write(self, data: bytes) -> None:
        if not self._silent:
            self._line.write(data)
