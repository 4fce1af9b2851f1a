"""The CALLs a development CSMS sends to one station, and the answers it waits for.

One CALL at a time per connection (OCPP-J); answers are matched by unique id with one
future each, so a waiting call fails at once when the connection drops. `send_raw` sends
any text and takes the next answer no call() claims.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import json
import uuid
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, CallResult, validate_payload
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from .frames import dumps, schema_cause, unique_id_key
from .ledger import Recorder


class CallErrorReceived(Exception):
    """The station answered a CALL of the CSMS with a CALLERROR."""

    def __init__(self, code: str, description: str, details: Any = None) -> None:
        super().__init__(f"CALLERROR {code}: {description}")
        self.code = code
        self.description = description
        self.details = details


class OutgoingCalls:
    """CALLs of the CSMS to the station `station_id` on `ws`, recorded in `recorder`."""

    def __init__(
        self, station_id: str, ws: ServerConnection, recorder: Recorder, ocpp_version: str
    ) -> None:
        self.station_id = station_id
        self.ws = ws
        self.recorder = recorder
        self.ocpp_version = ocpp_version
        self.receive_task: asyncio.Task | None = None  # the connection's receive loop
        self._outstanding: dict[str, tuple[str, asyncio.Future]] = {}  # unique id → waiter
        self._sent_actions: dict[Any, str] = {}  # unique id of every CALL we sent → action
        self._raw_waiters: collections.deque[asyncio.Future] = collections.deque()
        self._lock = asyncio.Lock()

    def action_of(self, unique_id: Any) -> str:
        """The action of the CALL we sent with that unique id ("" if we sent none)."""
        return self._sent_actions.get(unique_id_key(unique_id), "")

    def sent(self, unique_id: Any) -> bool:
        return unique_id_key(unique_id) in self._sent_actions

    def awaited(self, unique_id: Any) -> bool:
        """Whether a call() is waiting for the answer with that unique id."""
        outstanding = self._outstanding.get(unique_id_key(unique_id))
        return outstanding is not None and not outstanding[1].done()

    def answer(self, unique_id: Any, msg: CallResult | CallError) -> None:
        """Hand an answer to the call() waiting for it (see awaited())."""
        self._outstanding[unique_id_key(unique_id)][1].set_result(msg)

    @property
    def raw_waiting(self) -> bool:
        return bool(self._raw_waiters)

    def answer_raw(self, frame: list) -> None:
        """Hand an answer frame to the oldest send_raw() still waiting."""
        while self._raw_waiters:
            fut = self._raw_waiters.popleft()
            if not fut.done():
                fut.set_result(frame)
                return

    def connection_lost(self) -> None:
        """Fail every call() waiting; send_raw() waiters get None."""
        for action, fut in self._outstanding.values():
            if not fut.done():
                fut.set_exception(
                    ConnectionError(
                        f"{self.station_id} disconnected while {action} awaited its answer"
                    )
                )
        while self._raw_waiters:
            fut = self._raw_waiters.popleft()
            if not fut.done():
                fut.set_result(None)

    async def call(self, action: str, payload: dict, timeout: float) -> dict:
        """Send a CALL and return the CALLRESULT payload (see CsmsServer.call)."""
        if self.receive_task is not None and asyncio.current_task() is self.receive_task:
            raise RuntimeError(
                "Csms.call() from inside a message handler/on_message would deadlock: "
                "the receive loop is busy; call it from another task"
            )
        uid = str(uuid.uuid4())
        # validate a copy: ocpp turns floats of some 1.6 actions into Decimals in place
        await validate_payload(Call(uid, action, copy.deepcopy(payload)), self.ocpp_version)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future = loop.create_future()
        sent = False
        try:
            async with asyncio.timeout(timeout):
                async with self._lock:
                    sent = True
                    self._outstanding[uid] = (action, fut)
                    self._sent_actions[uid] = action
                    self.recorder.record(self.station_id, "out", "call", action, payload, uid)
                    try:
                        await self.ws.send(Call(uid, action, payload).to_json())
                    except ConnectionClosed as exc:
                        raise ConnectionError(f"{self.station_id} is disconnected: {exc}") from None
                    msg = await fut
        except TimeoutError:
            if not sent:
                raise TimeoutError(
                    f"{action} to {self.station_id} not sent within {timeout} s: "
                    "another CALL to it was still waiting for its answer"
                ) from None
            raise TimeoutError(
                f"{self.station_id} did not answer {action} {dumps(payload)} within {timeout} s"
            ) from None
        finally:
            self._outstanding.pop(uid, None)

        if isinstance(msg, CallError):
            raise CallErrorReceived(msg.error_code, msg.error_description, msg.error_details)
        try:
            response = CallResult(uid, copy.deepcopy(msg.payload), action)
            await validate_payload(response, self.ocpp_version)
        except OCPPError as exc:
            self.recorder.violation(
                self.station_id,
                f"{action}.conf violates the schema ({exc.code}: "
                f"{schema_cause(exc)}): {dumps(msg.payload)}",
            )
            raise
        return msg.payload

    async def send_raw(self, text: str, timeout: float) -> list | None:
        """Send any text; the next unclaimed CALLRESULT/CALLERROR frame, or None."""
        try:
            frame = json.loads(text)
        except ValueError:
            frame = None
        action = ""
        if isinstance(frame, list) and len(frame) >= 3 and frame[0] == 2:
            action = str(frame[2])
            self._sent_actions[unique_id_key(frame[1])] = action
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._raw_waiters.append(fut)
        self.recorder.record(self.station_id, "out", "raw", action, {"text": text})
        try:
            await self.ws.send(text)
        except ConnectionClosed:
            fut.cancel()
            return None
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return None
        finally:
            if fut in self._raw_waiters:
                self._raw_waiters.remove(fut)
