"""The CAN side of the InfyPower driver: the python-can bus, frames out in order, replies
matched to the requests that wait for them.

`InfyBus` knows ids, addresses and reply timeouts, nothing of outputs or faults (that is
hal/drivers/infy.py). python-can's reader thread hands every frame to the event loop
(`CanForwarder`, also used by the simulated modules); sending runs on one executor thread,
so frames leave in the order they were asked for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import can

from hal.drivers.infy_protocol import ZERO_DATA, ErrorCode, pack_id, unpack_id
from hal.drivers.ports import can_problem
from hal.interfaces import DeviceError

log = logging.getLogger("hal.drivers.infy")

# How often python-can's reader thread looks up from an empty bus (bounds close()).
RX_WAKEUP_S = 0.05


class ModuleSilentError(DeviceError):
    """A module did not answer within the reply timeout."""


class CanForwarder(can.Listener):
    """Hands every received frame from the python-can reader thread to the event loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        handler: Callable[[can.Message], None],
        *,
        logger: logging.Logger = log,
    ) -> None:
        self._loop = loop
        self._handler = handler
        self._log = logger
        self._failing = False

    def on_message_received(self, msg: can.Message) -> None:
        self._failing = False
        try:
            self._loop.call_soon_threadsafe(self._handler, msg)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass

    def on_error(self, exc: Exception) -> None:
        # Handled here so the reader thread keeps going; the modules then look silent,
        # which the poll reports. The pause keeps a dead adapter from spinning the CPU.
        level = logging.DEBUG if self._failing else logging.WARNING
        self._log.log(level, "CAN receive error: %s", exc)
        self._failing = True
        time.sleep(0.1)


class InfyBus:
    """Requests to the modules of one connector and their replies, on one CAN bus."""

    def __init__(
        self,
        connector: int,
        *,
        interface: str,
        channel: str,
        bitrate: int,
        modules: Collection[int],
        controller_address: int,
        reply_timeout_s: float,
        bus_options: Mapping[str, Any],
    ) -> None:
        self.connector = connector
        self.interface = interface
        self.channel = channel
        self.bitrate = bitrate
        self.controller_address = controller_address
        self.reply_timeout_s = reply_timeout_s
        self.bus_options = dict(bus_options)
        self._modules = frozenset(modules)
        self._bus: can.BusABC | None = None
        self._notifier: can.Notifier | None = None
        self._tx: ThreadPoolExecutor | None = None  # one thread: frames leave in order
        self._waiters: dict[tuple[int, int], list[asyncio.Future[tuple[int, bytes]]]] = {}

    @property
    def is_open(self) -> bool:
        return self._bus is not None

    async def open(self) -> None:
        """Open the bus and listen; DeviceError saying why when it cannot be opened."""
        loop = asyncio.get_running_loop()
        self._tx = ThreadPoolExecutor(1, thread_name_prefix=f"infy-{self.connector}-tx")
        try:
            # Off the loop: opening an slcan adapter sleeps (sleep_after_open).
            self._bus = await loop.run_in_executor(self._tx, self._open_bus)
        except (can.CanError, OSError, ValueError, ImportError) as exc:
            self._tx.shutdown(wait=False)
            self._tx = None
            problem = can_problem(self.interface, self.channel, self.bitrate, exc)
            raise DeviceError(
                f"cannot open CAN bus {self.interface} {self.channel}: {problem}"
            ) from exc
        self._notifier = can.Notifier(
            self._bus, [CanForwarder(loop, self._on_frame)], timeout=RX_WAKEUP_S
        )

    async def close(self) -> None:
        """Stop listening, shut the bus down, end the sending thread."""
        if self._notifier is not None:
            await asyncio.to_thread(self._notifier.stop, 1.0)
            self._notifier = None
        if self._bus is not None and self._tx is not None:
            await asyncio.get_running_loop().run_in_executor(self._tx, self._bus.shutdown)
            self._bus = None
        if self._tx is not None:
            self._tx.shutdown(wait=False)
            self._tx = None

    def send_nowait(self, module: int, command: int, data: bytes) -> None:
        """Queue one frame to `module` without waiting for it to leave or be answered."""
        if self._bus is not None and self._tx is not None:
            self._tx.submit(self._send_logged, self._bus, self._message(module, command, data))

    async def request(self, module: int, command: int, data: bytes = ZERO_DATA) -> bytes:
        """Send one frame to `module` and return the data of its reply.

        ModuleSilentError when no reply comes within the reply timeout; DeviceError when
        the module answers with an error code or the frame cannot be sent.
        """
        if self._bus is None or self._tx is None:
            raise DeviceError(f"connector {self.connector}: power modules not started")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        key = (module, command)
        self._waiters.setdefault(key, []).append(future)
        try:
            msg = self._message(module, command, data)
            try:
                await loop.run_in_executor(self._tx, self._bus.send, msg, self.reply_timeout_s)
            except can.CanError as exc:
                raise DeviceError(
                    f"connector {self.connector}: cannot send to power module {module}: {exc}"
                ) from exc
            try:
                error, reply = await asyncio.wait_for(future, self.reply_timeout_s)
            except TimeoutError:
                raise ModuleSilentError(
                    f"power module {module} did not answer command {command:#04x} "
                    f"within {self.reply_timeout_s:g} s"
                ) from None
        finally:
            waiting = self._waiters.get(key)
            if waiting is not None and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del self._waiters[key]
        if error != ErrorCode.NORMAL:
            try:
                meaning = ErrorCode(error).name.lower().replace("_", " ")
            except ValueError:
                meaning = f"error code {error}"
            raise DeviceError(f"power module {module} rejected command {command:#04x}: {meaning}")
        return reply

    def _open_bus(self) -> can.BusABC:
        return can.Bus(
            interface=self.interface,
            channel=self.channel,
            bitrate=self.bitrate,
            **self.bus_options,
        )

    def _message(self, module: int, command: int, data: bytes) -> can.Message:
        return can.Message(
            arbitration_id=pack_id(command, module, self.controller_address),
            is_extended_id=True,
            data=data,
        )

    def _send_logged(self, bus: can.BusABC, msg: can.Message) -> None:
        try:
            bus.send(msg, timeout=self.reply_timeout_s)
        except can.CanError as exc:
            log.error("connector %s: CAN send failed: %s", self.connector, exc)

    def _on_frame(self, msg: can.Message) -> None:
        """A received frame, on the event loop: resolve whoever waits for it."""
        if not msg.is_extended_id or msg.is_error_frame or msg.is_remote_frame:
            return
        frame = unpack_id(msg.arbitration_id)
        if frame.destination != self.controller_address or frame.source not in self._modules:
            return
        for future in self._waiters.pop((frame.source, frame.command), []):
            if not future.done():
                future.set_result((frame.error, bytes(msg.data)))
