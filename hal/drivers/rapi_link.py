"""The serial line to one OpenEVSE controller: RAPI requests out, replies and notifications in.

`RapiLink` knows frames, sequence ids and the port, nothing of pilots or offers (that is
`hal/drivers/rapi.py`). Serial reads run in a thread that hands lines to the loop; writes
run in the executor. One request is outstanding at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

import serial

from hal.drivers.ports import serial_problem
from hal.drivers.rapi_protocol import FrameError, RapiFrame, frame, parse
from hal.interfaces import DeviceError

log = logging.getLogger(__name__)

READ_SLICE_S = 0.1  # the reader thread checks for close() this often
MAX_LINE = 256  # longer without CR is noise


class NoAnswer(DeviceError):
    """No reply to a request within the timeout."""


class PortFailed(DeviceError):
    """The serial port could not be opened, or failed while in use."""


class RapiLink:
    """Requests and replies on one serial port.

    Sequence ids: until the firmware has shown whether it echoes them, requests carry one
    and a reply with our id or with none is taken. An `$OK` without an id means firmware
    before RAPI 3.0.0, which takes `:ss` for an extra argument: from then on requests go
    without. `forget_firmware()` (a reboot, a reopened port) starts the test again.
    """

    def __init__(
        self,
        port: str,
        *,
        baudrate: int,
        timeout_s: float,
        on_notification: Callable[[RapiFrame], None],
        on_port_failed: Callable[[BaseException], None],
        name: str,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self.sequence_ids: bool | None = None  # whether the firmware echoes them
        self.bad_frames = 0
        self.stale_replies = 0
        self._on_notification = on_notification
        self._on_port_failed = on_port_failed
        self._name = name
        self._serial: serial.Serial | None = None
        self._reader: threading.Thread | None = None
        self._reader_stop = threading.Event()
        self._broken = False
        self._request_lock = asyncio.Lock()
        self._pending: tuple[int | None, asyncio.Future[RapiFrame]] | None = None
        self._seq = 0

    @property
    def is_open(self) -> bool:
        return self._serial is not None and not self._broken

    def forget_firmware(self) -> None:
        """The controller may run other firmware now: test sequence ids again."""
        self.sequence_ids = None

    # --- requests -----------------------------------------------------------------------

    async def request(self, command: str) -> RapiFrame:
        """Send one command and return the controller's reply (`$OK` or `$NK`).

        Raises PortFailed when the port is closed or fails, NoAnswer when no reply
        arrives within timeout_s."""
        loop = asyncio.get_running_loop()
        async with self._request_lock:
            port = self._serial
            if port is None or self._broken:
                raise PortFailed(f"EVSE controller on {self.port}: port not open")
            seq: int | None = None
            if self.sequence_ids is not False:
                self._seq = self._seq % 0xFE + 1
                seq = self._seq
            future: asyncio.Future[RapiFrame] = loop.create_future()
            self._pending = (seq, future)
            try:
                await loop.run_in_executor(None, self._write, port, frame(command, seq))
                async with asyncio.timeout(self.timeout_s):
                    return await future
            except TimeoutError:  # before OSError: TimeoutError is one
                raise NoAnswer(
                    f"EVSE controller on {self.port}: no answer to {command!r}"
                    f" within {self.timeout_s} s"
                ) from None
            except (serial.SerialException, OSError) as exc:
                self._fail(port, exc)
                raise PortFailed(f"EVSE controller on {self.port}: {exc}") from exc
            finally:
                self._pending = None

    @staticmethod
    def _write(port: serial.Serial, data: bytes) -> None:
        port.write(data)
        port.flush()

    def _take_reply(self, f: RapiFrame) -> None:
        pending = self._pending
        if pending is None or pending[1].done():
            self._stale(f)
            return
        seq, future = pending
        if seq is not None and f.seq == seq:
            self.sequence_ids = True
        elif f.seq is None and self.sequence_ids is not True:
            # Only an OK proves it: the firmware also answers a garbled frame with a bare NK.
            if f.ok and self.sequence_ids is None:
                log.info("%s: the controller sends no sequence ids (RAPI < 3.0.0)", self._name)
                self.sequence_ids = False
        else:
            self._stale(f)
            return
        future.set_result(f)

    def _stale(self, f: RapiFrame) -> None:
        self.stale_replies += 1
        log.debug("%s: RAPI reply to no pending request: %s", self._name, f)

    # --- what arrives -------------------------------------------------------------------

    def _on_line(self, line: bytes) -> None:
        start = line.rfind(b"$")
        if start < 0:
            if line.strip():
                self.bad_frame(line, "no frame")
            return
        if start > 0:
            self.bad_frame(line[:start], "noise before a frame")
        try:
            f = parse(line[start:])
        except FrameError as exc:
            self.bad_frame(line, str(exc))
            return
        if f.is_reply:
            self._take_reply(f)
        else:
            self._on_notification(f)

    def bad_frame(self, data: bytes, why: str) -> None:
        self.bad_frames += 1
        log.debug("%s: RAPI: dropped %r (%s)", self._name, data, why)

    # --- the port -----------------------------------------------------------------------

    async def open(self) -> None:
        """Open the port and start the reader; PortFailed if it cannot be opened."""
        loop = asyncio.get_running_loop()
        try:
            port = await loop.run_in_executor(None, self._open_blocking)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise PortFailed(
                f"cannot open the EVSE controller's port: {serial_problem(self.port, exc)}"
            ) from exc
        self._serial, self._broken = port, False
        self.forget_firmware()
        self._reader_stop = threading.Event()
        self._reader = threading.Thread(
            target=self._read_forever,
            args=(port, self._reader_stop, loop),
            name=f"rapi-reader-{self._name}",
            daemon=True,
        )
        self._reader.start()

    def _open_blocking(self) -> serial.Serial:
        return serial.Serial(
            port=self.port,
            baudrate=self.baudrate,
            timeout=READ_SLICE_S,
            write_timeout=self.timeout_s,
            exclusive=True,
        )

    async def close(self) -> None:
        """Join the reader thread and close the port; a request still running fails."""
        async with self._request_lock:
            await self._close()

    async def close_now(self) -> None:
        """close() without waiting for a running request (stop() must not hang)."""
        await self._close()

    async def _close(self) -> None:
        port, reader = self._serial, self._reader
        self._serial, self._reader = None, None
        self._reader_stop.set()
        if port is None:
            return
        with contextlib.suppress(Exception):
            port.cancel_read()
        if reader is not None:
            await asyncio.to_thread(reader.join)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(port.close)

    def _read_forever(
        self, port: serial.Serial, stop: threading.Event, loop: asyncio.AbstractEventLoop
    ) -> None:
        """Reader thread: split the byte stream at CR and hand each line to the loop."""
        buffer = bytearray()
        try:
            while not stop.is_set():
                try:
                    chunk = port.read(port.in_waiting or 1)
                except (serial.SerialException, OSError, TypeError) as exc:
                    if not stop.is_set():
                        loop.call_soon_threadsafe(self._fail, port, exc)
                    return
                buffer += chunk
                while (end := buffer.find(b"\r")) >= 0:
                    line = bytes(buffer[:end])
                    del buffer[: end + 1]
                    loop.call_soon_threadsafe(self._on_line, line)
                if len(buffer) > MAX_LINE:
                    loop.call_soon_threadsafe(self.bad_frame, bytes(buffer), "line too long")
                    buffer.clear()
        except RuntimeError:  # the loop closed under us: nobody is listening any more
            return

    def _fail(self, port: serial.Serial, exc: BaseException) -> None:
        if port is not self._serial or self._broken:
            return
        log.warning("%s: serial port %s failed: %s", self._name, self.port, exc)
        self._broken = True
        if self._pending is not None and not self._pending[1].done():
            self._pending[1].set_exception(serial.SerialException(str(exc)))
        self._on_port_failed(exc)
