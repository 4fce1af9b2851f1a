"""OCPP-J framing on one websocket: CALL, CALLRESULT, CALLERROR.

Written here rather than taken from `ocpp.ChargePoint` because that class answers
malformed frames with nothing, swaps NotImplemented/NotSupported, and leaves a waiting
call asleep when the socket drops (OCPP_NOTES.md). Payloads are plain camelCase dicts,
validated against the JSON schemas shipped with the `ocpp` package by chargerd.schema
(not `ocpp.messages`, which brings jsonschema: memory, import time, µs per message).

- One outstanding CALL at a time (OCPP-J); further calls wait their turn.
- Incoming CALLs are answered from their own task, so a handler may itself make a CALL.
- When the connection closes, the waiting call fails at once with ConnectionLost.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import ocpp  # only for where its schema files are: its __init__ imports nothing

from . import frames, schema

log = logging.getLogger("chargerd.ocpp")

Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class Socket(Protocol):
    async def send(self, message: str) -> None: ...
    async def recv(self) -> str | bytes: ...


class ConnectionLost(Exception):
    """The websocket closed while a call was waiting (or before it was sent)."""


class CallError(Exception):
    """The CSMS answered a CALL with a CALLERROR (or with a result we cannot accept)."""

    def __init__(self, code: str, description: str = "", details: Any = None):
        super().__init__(f"{code}: {description}")
        self.code, self.description, self.details = code, description, details


class Refused(Exception):
    """Raised by a request handler to answer a CALL that passed the schema with a CALLERROR:
    `kind` is one of a Version's error kinds ("occurrence", "format", ...), e.g. more items
    than the station takes in one message."""

    def __init__(self, kind: str, description: str):
        super().__init__(description)
        self.kind, self.description = kind, description


class Version:
    """What differs between OCPP-J 1.6 and 2.0.1 at the framing level."""

    def __init__(self, name: str, errors: dict[str, str]):
        self.name = name
        self.errors = errors  # our error kind -> this version's CALLERROR code
        self._schemas = (
            Path(ocpp.__file__).parent / ("v16" if name == "1.6" else "v201") / "schemas"
        )
        self._request_suffix = "" if name == "1.6" else "Request"
        self.actions = {
            p.stem.removesuffix(self._request_suffix)
            for p in self._schemas.glob("*.json")
            if not p.stem.endswith("Response")
        }
        self._validators: dict[tuple[str, bool], schema.Validator] = {}

    def validator(self, action: str, response: bool) -> schema.Validator:
        """The compiled schema of an action's request or response, compiled on first use.
        Its `multipleOf` is decimal: the 1.6 schedules' limits are multiples of 0.1, and
        11.1 must pass (11.1 / 0.1 is not whole in binary floating point)."""
        key = (action, response)
        found = self._validators.get(key)
        if found is None:
            suffix = "Response" if response else self._request_suffix
            found = self._validators[key] = schema.load(self._schemas / f"{action}{suffix}.json")
        return found


OCPP16 = Version(
    "1.6",
    {
        "format": "FormationViolation",
        "incomplete": "ProtocolError",
        "type": "TypeConstraintViolation",
        "occurrence": "OccurenceConstraintViolation",  # sic: the 1.6 spelling
        "property": "PropertyConstraintViolation",
        "not_implemented": "NotImplemented",
        "not_supported": "NotSupported",
        "message_type": "FormationViolation",
        "internal": "InternalError",
    },
)
OCPP201 = Version(
    "2.0.1",
    {
        "format": "FormatViolation",
        "incomplete": "RpcFrameworkError",
        "type": "TypeConstraintViolation",
        "occurrence": "OccurrenceConstraintViolation",
        "property": "PropertyConstraintViolation",
        "not_implemented": "NotImplemented",
        "not_supported": "NotSupported",
        "message_type": "MessageTypeNotSupported",
        "internal": "InternalError",
    },
)
VERSIONS = {"1.6": OCPP16, "2.0.1": OCPP201}


class _Refusal(Exception):
    def __init__(self, kind: str, description: str):
        super().__init__(description)
        self.kind, self.description = kind, description


# the CALLERROR kind of the first schema keyword a payload breaks; others: "property"
SCHEMA_ERROR_KINDS = {
    "type": "type",
    "maxLength": "type",
    "required": "occurrence",
    "minItems": "occurrence",
    "maxItems": "occurrence",
    "additionalProperties": "format",
}


def check_payload(version: Version, action: str, payload: Any, response: bool) -> None:
    """Raise _Refusal with the kind of schema violation, if any."""
    if not isinstance(payload, dict):
        raise _Refusal("format", "payload is not a JSON object")
    violation = version.validator(action, response).first_violation(payload)
    if violation is not None:
        where = "/".join(str(p) for p in violation.path) or "payload"
        kind = SCHEMA_ERROR_KINDS.get(violation.keyword, "property")
        raise _Refusal(kind, f"{where}: {violation.message}"[:200])


class Rpc:
    """OCPP-J over one open websocket."""

    def __init__(
        self,
        socket: Socket,
        version: Version,
        handler: Handler,
        supported: set[str],
        *,
        on_traffic: Callable[[], None] = lambda: None,
        on_invalid: Callable[[str], None] = lambda what: None,
    ):
        self._socket = socket
        self.version = version
        self._handler = handler
        self._supported = supported  # actions we answer; others known to OCPP: NotSupported
        self._on_traffic = on_traffic
        self._on_invalid = on_invalid  # a malformed CALL: the InvalidMessages security event
        self._turn = asyncio.Lock()
        self._waiting: tuple[str, str, asyncio.Future[dict[str, Any]]] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        prefix = uuid.uuid4().hex[:8]  # unique per connection; a counter within it
        self._ids = (f"{prefix}-{n}" for n in itertools.count(1))
        self._on_close: list[Callable[[], None]] = []
        self.closed = False

    def add_close_callback(self, callback: Callable[[], None]) -> None:
        self._on_close.append(callback)

    # --- outgoing ---------------------------------------------------------------------------

    async def call(
        self, action: str, payload: dict[str, Any], timeout: float,
        sent: Callable[[], None] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Send a CALL and return the CALLRESULT payload; `sent` runs once the frame has
        left, while the CSMS works on it.

        Raises CallError (CALLERROR or an answer that breaks the schema), TimeoutError, or
        ConnectionLost."""
        async with self._turn:
            if self.closed:
                raise ConnectionLost("not connected")
            message_id = next(self._ids)
            future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._waiting = (message_id, action, future)
            try:
                await self._send([2, message_id, action, payload], action)
                if sent is not None:
                    sent()
                async with asyncio.timeout(timeout):
                    return await future
            finally:
                self._waiting = None

    async def _send(self, frame: list[Any], action: str) -> None:
        text = json.dumps(frame, separators=(",", ":"))
        log.debug("→ %s %s", action, text)
        frames.record("→", text)
        try:
            await self._socket.send(text)
        except Exception as exc:  # the socket is gone whatever the library calls it
            raise ConnectionLost(str(exc)) from exc
        self._on_traffic()

    # --- incoming ---------------------------------------------------------------------------

    async def serve(self) -> None:
        """Read frames until the socket closes; then fail whatever waits."""
        try:
            while True:
                try:
                    text = await self._socket.recv()
                except Exception:
                    return
                self._on_traffic()
                self._receive(text)
        finally:
            self.closed = True
            if self._waiting is not None and not self._waiting[2].done():
                self._waiting[2].set_exception(ConnectionLost("connection closed"))
            for task in list(self._tasks):
                task.cancel()
            for callback in self._on_close:
                callback()

    def _receive(self, text: str | bytes) -> None:
        log.debug("← %s", text if isinstance(text, str) else repr(text))
        frames.record("←", text)
        try:
            frame = json.loads(text)
        except (ValueError, UnicodeDecodeError, RecursionError):
            log.warning("dropped a frame that is not JSON (no message id to answer)")
            return
        message_id = frame[1] if isinstance(frame, list) and len(frame) > 1 else None
        if not isinstance(message_id, str):
            log.warning("dropped a frame without a readable message id: %.200s", text)
            return
        kind = frame[0]
        if not isinstance(kind, int) or isinstance(kind, bool):
            self._refuse(message_id, "message_type", f"message type id {kind!r} is not a number")
            return
        if kind == 2:
            self._spawn(self._answer(frame))
        elif kind == 3 and len(frame) == 3:
            self._result(message_id, frame[2])
        elif kind == 4 and len(frame) >= 4:
            self._error(message_id, frame)
        elif kind in (2, 3, 4):
            self._refuse(message_id, "incomplete", f"message type {kind} with {len(frame)} items")
        else:
            self._refuse(message_id, "message_type", f"unknown message type id {kind}")

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _refuse(self, message_id: str, kind: str, description: str) -> None:
        code = self.version.errors[kind]
        log.warning("answering %s with %s: %s", message_id, code, description)
        frame = [4, message_id, code, description[:255], {}]
        if kind not in ("not_implemented", "not_supported", "internal"):
            self._on_invalid(f"{code}: {description}")
        self._spawn(self._send_quietly(frame, "CALLERROR"))

    async def _send_quietly(self, frame: list[Any], action: str) -> None:
        try:
            await self._send(frame, action)
        except ConnectionLost:
            log.info("could not answer %s: connection closed", frame[1])

    async def _answer(self, frame: list[Any]) -> None:
        message_id = frame[1]
        try:
            if len(frame) != 4:
                raise _Refusal("incomplete", f"a CALL has 4 items, this one {len(frame)}")
            _, _, action, payload = frame
            if not isinstance(action, str):
                raise _Refusal("format", "action is not a string")
            if action not in self.version.actions:
                raise _Refusal("not_implemented", f"unknown action {action!r}")
            if action not in self._supported:
                raise _Refusal("not_supported", f"{action} is not supported by this station")
            check_payload(self.version, action, payload, response=False)
            # hidden before it is cut short: a cut frame may no longer name its secret
            text = frames.redact(json.dumps(payload, separators=(",", ":")))
            log.info("← %s %s", action, text[:300])
            try:
                result = await self._handler(action, payload)
                check_payload(self.version, action, result, response=True)
            except Refused as refused:
                raise _Refusal(refused.kind, refused.description) from None
            except _Refusal as bad_answer:
                log.error("our answer to %s breaks the schema: %s", action, bad_answer)
                raise _Refusal("internal", "the station could not build a valid answer") from None
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("handling %s failed", action)
                raise _Refusal("internal", f"the station failed to handle {action}") from None
        except _Refusal as refusal:
            self._refuse(message_id, refusal.kind, refusal.description)
            return
        await self._send_quietly([3, message_id, result], f"{action} result")

    def _pending(self, message_id: str) -> tuple[str, asyncio.Future[dict[str, Any]]] | None:
        if self._waiting is None or self._waiting[0] != message_id or self._waiting[2].done():
            log.warning("dropped an answer to %s: no such call is waiting", message_id)
            return None
        return self._waiting[1], self._waiting[2]

    def _result(self, message_id: str, payload: Any) -> None:
        pending = self._pending(message_id)
        if pending is None:
            return
        action, future = pending
        try:
            check_payload(self.version, action, payload, response=True)
        except _Refusal as refusal:
            future.set_exception(CallError("InvalidResponse", refusal.description))
            return
        future.set_result(payload)

    def _error(self, message_id: str, frame: list[Any]) -> None:
        pending = self._pending(message_id)
        if pending is not None:
            details = frame[4] if len(frame) > 4 else None
            pending[1].set_exception(CallError(str(frame[2]), str(frame[3]), details))
