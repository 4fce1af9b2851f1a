"""Delivery of messages to the CSMS, one CALL at a time.

Two kinds of message wait here:
- transaction messages, persisted in the store before their first attempt, delivered in
  order, retried after a CALLERROR or a timeout (attempt n waits interval × n), dropped
  only after the last attempt; a connection loss is not counted as an attempt;
- other messages, in memory only (status, heartbeat, authorization): bounded, and failed
  or dropped when the connection goes — the adapter reports the current state again on
  reconnect rather than replaying history. Messages a user waits on (`urgent`) go first;
  the rest keep their order relative to the transaction messages.

When a backlog is replayed, queued messages of one transaction that the version lets travel
together (OCPP 1.6 MeterValues: many meterValue entries in one message) are folded into one
before its first attempt and go as one CALL (`Combining`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .rpc import CallError, ConnectionLost, Rpc
from .store import OutboxMessage, Store

log = logging.getLogger("chargerd.outbox")

MAX_IN_MEMORY = 100  # non-transaction messages waiting while connected; oldest dropped beyond


@dataclass
class _Volatile:
    action: str
    payload: dict[str, Any]
    created_at: float
    urgent: bool
    future: asyncio.Future[dict[str, Any]] | None = field(default=None)


@dataclass
class RetryPolicy:
    attempts: int
    interval_s: float


@dataclass(frozen=True)
class Combining:
    """Which queued messages may be sent as one: consecutive messages of one transaction
    with this `action`, each `foldable`, equal but for their `entries` lists and the
    fields in `may_differ`. Their `entries` are joined, at most `limit()` in all (1: each
    alone); the message keeps the first one's other fields.

    `renumber(head, n)`: where the transaction's messages are numbered without gaps (the
    2.0.1 seqNo), closes the gap of the `n` folded numbers in the messages queued after
    them (called inside the store's transaction that folds them)."""

    action: str
    entries: str
    limit: Callable[[], int]
    may_differ: tuple[str, ...] = ()
    foldable: Callable[[dict[str, Any]], bool] = lambda payload: True
    renumber: Callable[[OutboxMessage, int], None] | None = None

    def combine(self, head: OutboxMessage, store: Store) -> OutboxMessage:
        """`head` with the messages that may travel with it folded in, in the store too
        (durably, before the first attempt: a retry, also after a power cut, sends the
        same message, and giving up drops what was attempted)."""
        limit = self.limit()
        if (
            head.action != self.action or head.tx_id is None or head.attempts or limit <= 1
            or not self.foldable(head.payload)
        ):  # fmt: skip
            return head
        entries = list(head.payload[self.entries])
        folded: list[int] = []
        for message in store.outbox_followers(head, limit):
            more = message.payload.get(self.entries, [])
            if (
                message.action != self.action
                or not self.foldable(message.payload)
                or not self._alike(head.payload, message.payload)
                or len(entries) + len(more) > limit
            ):
                break
            entries += more
            folded.append(message.seq)
        if not folded:
            return head
        renumber = self.renumber
        also = None if renumber is None else (lambda: renumber(head, len(folded)))
        return store.merge(head, {**head.payload, self.entries: entries}, folded, also)

    def _alike(self, first: dict[str, Any], other: dict[str, Any]) -> bool:
        ignored = {self.entries, *self.may_differ}
        keys = (first.keys() | other.keys()) - ignored
        return all(first.get(key) == other.get(key) for key in keys)


class Outbox:
    def __init__(
        self,
        store: Store,
        *,
        retry_policy: Callable[[], RetryPolicy],
        prepare: Callable[[OutboxMessage], dict[str, Any]],
        delivered: Callable[[OutboxMessage, dict[str, Any] | None], None],
        call_timeout_s: float,
        combining: Combining | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self._store = store
        self._retry_policy = retry_policy
        self._prepare = prepare  # fills in what is known only at send time
        self._delivered = delivered  # result None: given up after the last attempt
        self._combining = combining
        self._timeout = call_timeout_s
        self._clock = clock
        self._volatile: deque[_Volatile] = deque()
        self._wake = asyncio.Event()
        self._rpc: Rpc | None = None

    def wake(self) -> None:
        """A transaction message was stored."""
        self._wake.set()

    @property
    def connected(self) -> bool:
        return self._rpc is not None and not self._rpc.closed

    def post(self, action: str, payload: dict[str, Any]) -> None:
        """Send when the line is free; dropped if the connection goes first."""
        if not self.connected:
            return
        if len(self._volatile) >= MAX_IN_MEMORY:
            dropped = self._volatile.popleft()
            log.warning("too many messages waiting; dropped a %s", dropped.action)
            if dropped.future and not dropped.future.done():
                dropped.future.set_exception(ConnectionLost("dropped: queue full"))
        self._volatile.append(_Volatile(action, payload, self._clock(), urgent=False))
        self._wake.set()

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send ahead of queued messages and return the answer (raises like Rpc.call)."""
        if not self.connected:
            raise ConnectionLost("not connected")
        future = asyncio.get_running_loop().create_future()
        self._volatile.append(_Volatile(action, payload, self._clock(), True, future))
        self._wake.set()
        return await future

    def open(self, rpc: Rpc) -> None:
        """Messages may be queued for `rpc` from now on (call `run` to deliver them)."""
        self._rpc = rpc
        rpc.add_close_callback(self._wake.set)  # an idle or waiting run() returns at once

    async def run(self, rpc: Rpc) -> None:
        """Deliver until the connection closes."""
        self.open(rpc)
        try:
            while not rpc.closed:
                if not await self._send_next(rpc):
                    await self._sleep_until_due()
        except ConnectionLost:
            pass
        finally:
            self._store.sync()
            if self._rpc is rpc:  # not a newer connection's
                self._rpc = None
            for item in self._volatile:
                if item.future and not item.future.done():
                    item.future.set_exception(ConnectionLost("connection closed"))
            self._volatile.clear()

    async def _sleep_until_due(self) -> None:
        self._store.flush_confirmed()
        self._store.sync()
        head = self._store.outbox_head()
        timeout = None if head is None else max(0.0, head.not_before - self._clock())
        self._wake.clear()
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _send_next(self, rpc: Rpc) -> bool:
        """Send one message; False when nothing is due."""
        head = self._store.outbox_head()
        due = head is not None and head.not_before <= self._clock()
        volatile = self._volatile[0] if self._volatile else None
        urgent = next((v for v in self._volatile if v.urgent), None)
        if urgent is not None:
            self._volatile.remove(urgent)
            await self._send_volatile(rpc, urgent)
        elif volatile is not None and not (due and head and head.created_at <= volatile.created_at):
            self._volatile.popleft()
            await self._send_volatile(rpc, volatile)
        elif due and head is not None:
            await self._send_stored(rpc, head)
        else:
            return False
        return True

    async def _send_volatile(self, rpc: Rpc, item: _Volatile) -> None:
        future = item.future
        try:
            result = await rpc.call(item.action, item.payload, self._timeout, self._store.sync_soon)
            if future and not future.done():
                future.set_result(result)
        except (CallError, TimeoutError) as exc:
            log.warning("%s failed: %s", item.action, exc or "no answer")
            if future and not future.done():
                future.set_exception(exc)
        finally:  # connection lost, or delivery cancelled with it: the caller must not hang
            if future and not future.done():
                future.set_exception(ConnectionLost("connection closed"))

    async def _send_stored(self, rpc: Rpc, message: OutboxMessage) -> None:
        if self._combining is not None:
            message = self._combining.combine(message, self._store)
        try:
            payload = self._prepare(message)
            result = await rpc.call(message.action, payload, self._timeout, self._store.sync_soon)
        except (CallError, TimeoutError) as exc:
            if rpc.closed:  # the answer was lost with the connection: not the message's fault
                raise ConnectionLost("connection closed") from exc
            policy = self._retry_policy()
            attempts = message.attempts + 1
            # a CSMS without this action (a 1.6 CSMS without the security extension and a
            # SecurityEventNotification) would refuse every retry while the queue waits
            unknown = isinstance(exc, CallError) and exc.code in ("NotImplemented", "NotSupported")
            if attempts >= policy.attempts or unknown:
                log.error(
                    "%s #%d given up after %d attempts: %s",
                    message.action, message.seq, attempts, exc or "no answer",
                )  # fmt: skip
                self._delivered(message, None)
                return
            wait = policy.interval_s * attempts
            log.warning(
                "%s #%d failed (%s); attempt %d of %d in %.0f s",
                message.action, message.seq, exc or "no answer", attempts + 1, policy.attempts,
                wait,
            )  # fmt: skip
            self._store.retry_later(message.seq, attempts, self._clock() + wait)
            return
        self._delivered(message, result)
