"""One connection to the CSMS as every OCPP version runs it: frames in and out, boot,
heartbeat, delivery of the outbox, and the core told when the link comes and goes.

Adapters subclass `CsmsConnection` and fill in what differs per version: the boot
message, the heartbeat interval's name, the requests they answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection

from .adapter import Runtime
from .config import Config
from .outbox import Outbox
from .rpc import CallError, ConnectionLost, Rpc, Version

log = logging.getLogger("chargerd.ocpp")

DEFAULT_BOOT_RETRY_S = 30  # when a failed or Pending/Rejected boot gives no interval

# Answers one CSMS request (its payload) with the CALLRESULT payload.
RequestHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class CsmsConnection:
    version: Version  # the OCPP-J framing rules
    supported: set[str]  # the CSMS requests this adapter answers
    rt: Runtime
    outbox: Outbox
    config: Config
    registration: str  # BootNotification status: Unknown, Accepted, Pending, Rejected

    def __init__(self) -> None:
        self._last_traffic = time.monotonic()
        self._heartbeat_changed = asyncio.Event()
        self._rpc: Rpc | None = None
        self._reported: dict[int, Any] = {}  # status last reported per connector / EVSE
        self._handlers: dict[str, RequestHandler] = {}  # from the feature blocks
        self._on_parts_built: list[Callable[[], object]] | None = []  # None: built

    def add_handlers(self, handlers: dict[str, RequestHandler]) -> None:
        """Requests a feature block (smart charging, security, firmware, ...) answers, kept
        in the block's own module rather than in the adapter."""
        self._handlers.update(handlers)
        self.supported = self.supported | set(handlers)

    def when_parts_built(self, attach: Callable[[], object]) -> None:
        """Run `attach` once the daemon's parts exist (at once if they do): they are built
        after the adapter, most of them once the first BootNotification has left (parts.py),
        so a block's messages cannot reach its part from the adapter's __init__. An adapter
        built alone (unit tests) never runs it."""
        if self._on_parts_built is None:
            attach()
        else:
            self._on_parts_built.append(attach)

    def parts_built(self) -> None:
        """The daemon's parts exist (called once by the daemon)."""
        waiting, self._on_parts_built = self._on_parts_built or [], None
        for attach in waiting:
            attach()

    def handler(self, action: str) -> RequestHandler:
        """The handler a feature block registered for `action`."""
        return self._handlers[action]

    async def _dispatch(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.rt.parts.build_rest()  # the blocks' messages answer with their parts attached
        handler = self._handlers.get(action)
        if handler is not None:
            return await handler(payload)
        return await self._handle(action, payload)

    # --- what an adapter provides ---------------------------------------------------------

    def _boot_payload(self) -> dict[str, Any]:
        """The BootNotification of the next attempt."""
        raise NotImplementedError

    def _boot_accepted(self, payload: dict[str, Any], interval: int) -> None:
        """The CSMS accepted `payload`; `interval` is its heartbeat interval (0: keep ours)."""
        raise NotImplementedError

    async def _wait_boot(self, seconds: float) -> None:
        """Wait before the next boot attempt."""
        await asyncio.sleep(seconds)

    async def _handle(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _heartbeat_interval(self) -> int:
        raise NotImplementedError

    async def _send_heartbeat(self) -> None:
        raise NotImplementedError

    def _link_changed(self, online: bool) -> None:
        """Run on the core (inside Runtime.feed) when the link comes up or goes down."""
        self.rt.station.link_changed(online)

    def flush_status(self) -> None:
        raise NotImplementedError

    # --- the connection ---------------------------------------------------------------------

    async def serve(self, connection: ClientConnection) -> None:
        rpc = Rpc(
            connection, self.version, self._dispatch, self.supported, on_traffic=self._traffic,
            on_invalid=self._invalid_message,
        )
        self._rpc = rpc
        session = asyncio.create_task(self._session(rpc))
        try:
            await rpc.serve()
        finally:
            session.cancel()
            await asyncio.gather(session, return_exceptions=True)
            self._rpc = None
            self._reported.clear()  # report everything again on the next connection
            await self.rt.feed(lambda now: self._link_changed(False))

    async def _boot(self, rpc: Rpc) -> None:
        """BootNotification until Accepted; nothing else is sent meanwhile, while the CSMS's
        requests are still answered. Once per daemon start: a reconnect is not a reboot."""
        if self.registration == "Accepted":
            return
        while True:
            payload = self._boot_payload()
            try:
                answer = await rpc.call(
                    "BootNotification", payload, self.config.csms.call_timeout_s,
                    sent=self.rt.parts.want,  # what the start did not need, built meanwhile
                )  # fmt: skip
            except (CallError, TimeoutError) as exc:
                log.warning("BootNotification failed (%s); retrying", exc or "no answer")
                await self._wait_boot(DEFAULT_BOOT_RETRY_S)
                continue
            self.registration = answer["status"]
            interval = int(answer["interval"])
            if self.registration == "Accepted":
                self._boot_accepted(payload, interval)
                return
            wait = interval if interval > 0 else DEFAULT_BOOT_RETRY_S
            log.warning("BootNotification %s; next attempt in %d s", self.registration, wait)
            await self._wait_boot(wait)

    def _invalid_message(self, what: str) -> None:
        security = self.rt.parts.get("security")
        if security is not None:
            security.invalid_message(what)  # type: ignore[attr-defined]

    def _traffic(self) -> None:
        self._last_traffic = time.monotonic()

    async def _session(self, rpc: Rpc) -> None:
        try:
            await self._boot(rpc)
            await self.rt.feed(lambda now: self._link_changed(True))
            self.outbox.open(rpc)
            self.flush_status()
            heartbeat = asyncio.create_task(self._heartbeat())
            delivery = asyncio.create_task(self.outbox.run(rpc))
            try:
                await delivery
            finally:
                heartbeat.cancel()
        except ConnectionLost:
            pass

    def heartbeat_changed(self) -> None:
        """The heartbeat interval changed: reschedule."""
        self._heartbeat_changed.set()

    async def _heartbeat(self) -> None:
        """A Heartbeat when nothing else went over the link for a heartbeat interval."""
        while True:
            interval = self._heartbeat_interval()
            idle = time.monotonic() - self._last_traffic
            if interval > 0 and idle >= interval:
                await self._send_heartbeat()
                self._last_traffic = time.monotonic()
                continue
            self._heartbeat_changed.clear()
            wait = max(0.05, interval - idle) if interval > 0 else None
            try:
                async with asyncio.timeout(wait):
                    await self._heartbeat_changed.wait()
            except TimeoutError:
                pass
