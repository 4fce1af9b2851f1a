"""NXP PN532 NFC controller over UART (HSU) as a card reader: ISO/IEC 14443 type A UIDs.

Start-up (and again after any failure): the wake-up preamble, GetFirmwareVersion (is a
PN532 there at all?), SAMConfiguration normal mode, and RFConfiguration MxRtyPassive
Activation = 1, so that InListPassiveTarget answers "no card" at once instead of
waiting for one forever (the chip's default). Then InListPassiveTarget every
`poll_interval_s`; a card held on the reader is one presentation until polls have seen
it gone for `removal_s`.

Serial I/O runs in a worker thread, one command at a time: write, ACK, reply. A reply
with a bad checksum is asked for again with a NACK; after a time-out the command is
aborted with an ACK and the line is flushed. Two failures in a row (a silent or
unplugged reader) are reported once as ReaderFailure; the first good poll clears it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import serial

from hal.drivers.pn532_protocol import (
    ACK,
    BAUD_106_TYPE_A,
    GET_FIRMWARE_VERSION,
    IN_LIST_PASSIVE_TARGET,
    NACK,
    RF_CONFIGURATION,
    RF_MAX_RETRIES,
    SAM_CONFIGURATION,
    SAM_NORMAL_MODE,
    TFI_PN532,
    WAKE_UP,
    Ack,
    ErrorFrame,
    Frame,
    FrameReader,
    Nack,
    ProtocolError,
    command,
    firmware,
    first_target_uid,
    uid_text,
)
from hal.drivers.ports import serial_problem
from hal.interfaces import (
    DeviceError,
    EventSink,
    FaultCleared,
    FaultCode,
    FaultRaised,
    TagPresented,
)

log = logging.getLogger(__name__)

READ_SLICE_S = 0.02  # serial read granularity inside one command
FAILURES_BEFORE_FAULT = 2  # one lost reply is noise; two in a row is a reader problem
NACKS_PER_COMMAND = 2


@dataclass
class Presence:
    """Debounce: one presentation per card put on the reader. Only answered polls count
    as evidence that the card is gone, so a reader outage does not present it again."""

    removal_s: float
    card: bytes | None = None
    missing_since: float | None = None

    def seen(self, uid: bytes | None, now: float) -> bool:
        """Feed one poll's result; True when it is a new presentation."""
        if uid is not None and uid == self.card:
            self.missing_since = None
            return False
        if uid is None:
            if self.card is not None:
                if self.missing_since is None:
                    self.missing_since = now
                elif now - self.missing_since > self.removal_s:
                    self.card, self.missing_since = None, None
            return False
        self.card, self.missing_since = uid, None
        return True


class Pn532Reader:
    """A PN532 on a serial port (HSU, 115200 8N1 by default) serving one connector."""

    def __init__(
        self,
        connector: int,
        port: str,
        *,
        baudrate: int = 115200,
        timeout_s: float = 0.5,
        poll_interval_s: float = 0.25,
        removal_s: float = 1.0,
        retry_s: float = 2.0,
    ) -> None:
        self.connector = connector
        self.port = port
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self.poll_interval_s = poll_interval_s
        self.retry_s = retry_s
        self.firmware: str | None = None  # e.g. "PN532 firmware 1.6", once detected
        self.presence = Presence(removal_s)
        self.failed = False  # ReaderFailure is reported
        self.last_error = ""
        self._failures = 0
        self._frames = FrameReader()
        self._serial: serial.Serial | None = None
        self._ready = False
        self._emit: EventSink = lambda event: None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def bad_frames(self) -> int:
        """Replies with a wrong checksum, and noise bytes, seen so far."""
        return self._frames.bad_frames

    @property
    def skipped_bytes(self) -> int:
        return self._frames.skipped

    # --- CardReader ---------------------------------------------------------------------

    async def start(self, emit: EventSink) -> None:
        self._emit = emit
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=f"pn532-{self.connector}")

    async def stop(self) -> None:
        """Let the running command end (at most timeout_s), then close the port."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            await asyncio.wait({task}, timeout=self.timeout_s + 1.0)
            task.cancel()
        await asyncio.to_thread(self._close)

    # --- the polling loop ------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if not self._ready:
                    await self._set_up()
                uid = first_target_uid(
                    await self._command(IN_LIST_PASSIVE_TARGET, 1, BAUD_106_TYPE_A)
                )
            except (DeviceError, ProtocolError) as exc:
                self._ready = False
                self._trouble(str(exc))
                await asyncio.to_thread(self._close)
                await self._pause(self.retry_s if self.failed else self.poll_interval_s)
                continue
            self._answered()
            if self.presence.seen(uid, time.monotonic()) and uid is not None:
                log.info("connector %d: card %s at the reader", self.connector, uid_text(uid))
                self._emit(TagPresented(uid_text(uid), self.connector))
            await self._pause(self.poll_interval_s)

    async def _set_up(self) -> None:
        if self._serial is None:
            self._serial = await asyncio.to_thread(self._open)
        await asyncio.to_thread(self._write, WAKE_UP)
        found = str(firmware(await self._command(GET_FIRMWARE_VERSION)))
        if found != self.firmware:
            log.info("connector %d: card reader on %s: %s", self.connector, self.port, found)
            self.firmware = found
        await self._command(SAM_CONFIGURATION, SAM_NORMAL_MODE, 0x14, 0x01)
        # MxRtyATR default, MxRtyPSL 1, MxRtyPassiveActivation 1: "no card" at once
        await self._command(RF_CONFIGURATION, RF_MAX_RETRIES, 0xFF, 0x01, 0x01)
        self._ready = True

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _trouble(self, why: str) -> None:
        self._failures += 1
        self.last_error = why
        if self._failures >= FAILURES_BEFORE_FAULT and not self.failed:
            self.failed = True
            log.error("connector %d: card reader failed: %s", self.connector, why)
            self._emit(FaultRaised(self.connector, FaultCode.ReaderFailure, why))

    def _answered(self) -> None:
        self._failures = 0
        if self.failed:
            self.failed = False
            log.info("connector %d: card reader on %s answers again", self.connector, self.port)
            self._emit(FaultCleared(self.connector, FaultCode.ReaderFailure))

    # --- one command, in the worker thread ---------------------------------------------

    async def _command(self, code: int, *params: int) -> Frame:
        return await asyncio.to_thread(self._exchange, code, command(code, *params))

    def _exchange(self, code: int, request: bytes) -> Frame:
        """Write `request`; the PN532's ACK and then its reply to `code`."""
        port = self._serial
        if port is None:
            raise DeviceError(f"card reader on {self.port}: port not open")
        self._write(request)
        acked, nacks, bad = False, 0, self._frames.bad_frames
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            try:
                chunk = port.read(port.in_waiting or 1)
            except (serial.SerialException, OSError, TypeError) as exc:
                raise DeviceError(f"card reader on {self.port}: {exc}") from exc
            for item in self._frames.feed(chunk):
                if isinstance(item, Ack):
                    acked = True
                elif isinstance(item, Nack):  # it lost our frame: once more
                    self._write(request)
                elif isinstance(item, ErrorFrame):
                    raise DeviceError(f"card reader on {self.port}: refused command 0x{code:02X}")
                elif item.tfi == TFI_PN532 and item.code == code + 1:
                    return item
                # else: the late reply to an aborted command, ignored
            if self._frames.bad_frames > bad and nacks < NACKS_PER_COMMAND:
                bad, nacks = self._frames.bad_frames, nacks + 1
                self._write(NACK)  # the PN532 sends its reply again
        self._abort()
        stage = "reply" if acked else "ACK"
        raise DeviceError(
            f"card reader on {self.port}: no {stage} to command 0x{code:02X} "
            f"within {self.timeout_s} s (no PN532 answering?)"
        )

    def _abort(self) -> None:
        """An ACK from the host cancels the running command; what it sent is stale."""
        with contextlib.suppress(DeviceError):
            self._write(ACK)
        if self._serial is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._serial.reset_input_buffer()
        self._frames.clear()

    # --- the port ----------------------------------------------------------------------------

    def _open(self) -> serial.Serial:
        try:
            return serial.Serial(
                port=self.port,
                baudrate=self.baudrate,
                timeout=READ_SLICE_S,
                write_timeout=self.timeout_s,
                exclusive=True,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceError(f"card reader: {serial_problem(self.port, exc)}") from exc

    def _write(self, data: bytes) -> None:
        port = self._serial
        if port is None:
            raise DeviceError(f"card reader on {self.port}: port not open")
        try:
            port.write(data)
            port.flush()
        except (serial.SerialException, OSError) as exc:
            raise DeviceError(f"card reader on {self.port}: {exc}") from exc

    def _close(self) -> None:
        port, self._serial = self._serial, None
        self._ready = False
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()
