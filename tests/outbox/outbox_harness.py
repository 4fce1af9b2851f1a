"""The scripted CSMS, station-side link and outbox owner shared by the outbox tests.

The CSMS reads the station's CALLs from a queue and answers each with a CALLRESULT, a
CALLERROR, silence, or a dropped connection. The `prepare`/`delivered` callbacks of `Owner`
do what the OCPP 1.6 adapter does (fill in the CSMS's transaction id, record answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection
from websockets.exceptions import ConnectionClosed

from chargerd.core.model import Transaction
from chargerd.outbox import Combining, Outbox, RetryPolicy
from chargerd.rpc import OCPP16, Rpc
from chargerd.store import OutboxMessage, Store

WAIT_S = 2.0  # the longest a single wait may take before the test fails
NOW = "2025-01-01T10:00:00Z"
HEARTBEAT_ANSWER = {"currentTime": NOW}


# --- the scripted CSMS -------------------------------------------------------------------------


class Csms:
    """A websocket server that queues every frame the station sends."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[list[Any]] = asyncio.Queue()
        self.ws: ServerConnection | None = None
        self.connections = 0
        self.server: Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/CP-1"

    async def handler(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.connections += 1
        with contextlib.suppress(ConnectionClosed):
            async for text in ws:
                await self.frames.put(json.loads(text))

    async def recv(self, timeout: float = WAIT_S) -> list[Any]:
        return await asyncio.wait_for(self.frames.get(), timeout)

    async def recv_call(self, action: str) -> list[Any]:
        frame = await self.recv()
        assert frame[0] == 2 and frame[2] == action, frame
        return frame

    async def answer(self, call: list[Any], payload: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps([3, call[1], payload]))

    async def refuse(self, call: list[Any], code: str = "InternalError") -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps([4, call[1], code, "scripted refusal", {}]))

    async def drop(self) -> None:
        assert self.ws is not None
        await self.ws.close()

    async def expect_silence(self, within: float = 0.15) -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(self.frames.get(), within)


@dataclass
class Session:
    ws: ClientConnection
    rpc: Rpc
    serving: asyncio.Task[None]
    delivery: asyncio.Task[None]


async def no_requests(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    raise AssertionError(f"the CSMS sent {action} unexpectedly")


class Link:
    """Opens station-side sessions (websocket + Rpc + Outbox.run) to the CSMS."""

    def __init__(self, csms: Csms, stack: contextlib.AsyncExitStack) -> None:
        self.csms = csms
        self.stack = stack

    async def connect(self) -> tuple[ClientConnection, Rpc]:
        """A websocket and its Rpc, not yet served."""
        connections = self.csms.connections
        ws = await self.stack.enter_async_context(
            connect(self.csms.url, subprotocols=["ocpp1.6"], proxy=None)  # type: ignore[list-item]
        )
        assert ws.subprotocol == "ocpp1.6"
        rpc = Rpc(ws, OCPP16, no_requests, supported=set())
        await until(lambda: self.csms.connections == connections + 1)
        return ws, rpc

    def keep(self, task: asyncio.Task[Any]) -> asyncio.Task[Any]:
        """Cancel `task` at the end of the test."""
        self.stack.push_async_callback(cancel, task)
        return task

    async def open(self, outbox: Outbox) -> Session:
        """Serve a new connection and deliver the outbox over it."""
        ws, rpc = await self.connect()
        serving = self.keep(asyncio.create_task(rpc.serve()))
        delivery = self.keep(asyncio.create_task(outbox.run(rpc)))
        await until(lambda: outbox.connected)
        return Session(ws, rpc, serving, delivery)


async def cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def until(predicate: Callable[[], bool], timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# --- the outbox's owner: prepare and delivered -------------------------------------------------


class Owner:
    """What the OCPP adapter does with the outbox: late binding and recording answers."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.delivered: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []

    def prepare(self, message: OutboxMessage) -> dict[str, Any]:
        payload = dict(message.payload)
        if message.tx_id is not None and message.action != "StartTransaction":
            csms_id = self.store.csms_id(message.tx_id)
            payload["transactionId"] = int(csms_id) if csms_id is not None else -1
        return payload

    def deliver(self, message: OutboxMessage, answer: dict[str, Any] | None) -> None:
        self.delivered.append((message.action, message.payload, answer))
        if message.action == "StartTransaction" and answer is not None:
            self.store.delivered(message, csms_id=str(answer["transactionId"]))
        else:  # as the 1.6 adapter: only a StartTransaction's confirmation waits for the disk
            last = message.action == "StopTransaction"
            self.store.delivered(message, last=last, durable=False)


def make_outbox(
    store: Store, *, attempts: int = 3, interval_s: float = 0.05, timeout_s: float = 0.3,
    combine: int = 1,
) -> tuple[Outbox, Owner]:  # fmt: skip
    owner = Owner(store)
    outbox = Outbox(
        store,
        retry_policy=lambda: RetryPolicy(attempts, interval_s),
        prepare=owner.prepare,
        delivered=owner.deliver,
        call_timeout_s=timeout_s,
        combining=Combining("MeterValues", "meterValue", lambda: combine),
    )
    return outbox, owner


def meter_values(n: int) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": str(1000 + n)}]}],
    }


def transaction(tx_id: str = "tx-1") -> Transaction:
    return Transaction(tx_id, 1, "TAG1", 1000, 1_700_000_000.0, 1000)


START = {"connectorId": 1, "idTag": "TAG1", "meterStart": 1000, "timestamp": NOW}
STOP = {"meterStop": 1500, "timestamp": NOW, "reason": "Local"}
