"""A small but strict OCPP 1.6J Central System (CSMS) for tests, demos and the lab.

It is the server side of the `ocpp` package (a `ocpp.v16.ChargePoint` subclass with
`@on` handlers per connected station) on a `websockets.asyncio.server` server, and it
writes everything it sees into a `Ledger` that tests can assert on:

- every frame received and sent (`Ledger.entries`), plus connect/disconnect events;
- transactions (ids assigned from 1 upwards), connector status, boot counts;
- `Ledger.violations`: every protocol problem of the station: schema errors (answered
  with the CALLERROR `ocpp` produces), unknown or twice-stopped transactions,
  MeterValues for unknown/stopped transactions, meterStop < meterStart, timestamps
  without a UTC offset, messages sent while the registration is Rejected/Pending, ...

Behaviour knobs (`boot_status`, `auth`, `fail_next`, ...) can be changed at any time.
Everything runs on one asyncio loop. Typical test use::

    csms = Csms()
    await csms.start()                      # binds 127.0.0.1 on a free port
    ... station connects to f"{csms.url}/CP-001" with subprotocol "ocpp1.6" ...
    entry = await csms.wait_for("StartTransaction", timeout=2)
    reply = await csms.call("CP-001", "RemoteStopTransaction", {"transactionId": 1})
    assert not csms.ledger.violations
    await csms.stop()

Only OCPP 1.6J ("ocpp1.6") is served today. A station session is a class registered in
`Csms.protocols` under its websocket subprotocol, so OCPP 2.0.1 can be added later as
another `_Session` subclass (based on `ocpp.v201.ChargePoint`) under "ocpp2.0.1".

Run it by hand with `scripts/dev-csms` (or `python -m chargerd.csms`), see `main()`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import copy
import hmac
import http
import json
import logging
import signal
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from ocpp.exceptions import InternalError, NotSupportedError, OCPPError
from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.messages import Call, CallError, CallResult, unpack, validate_payload
from ocpp.routing import on
from ocpp.v16 import ChargePoint as _ChargePoint16
from ocpp.v16 import call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidHeader
from websockets.frames import CloseCode
from websockets.headers import build_www_authenticate_basic, parse_authorization_basic
from websockets.http11 import Request, Response

log = logging.getLogger("chargerd.csms")
# The `ocpp` package logs every frame at INFO and schema errors with a traceback; we log
# frames and violations ourselves, so its messages go to a child logger that `main()`
# quietens unless -v.
_ocpp_log = logging.getLogger("chargerd.csms.ocpp")

FAIL_MODES = ("error", "silent", "drop_answer")
_MESSAGE_KINDS = ("call", "result", "error", "raw", "malformed")


class CallErrorReceived(Exception):
    """The station answered a CALL of the CSMS with a CALLERROR."""

    def __init__(self, code: str, description: str, details: Any = None) -> None:
        super().__init__(f"CALLERROR {code}: {description}")
        self.code = code
        self.description = description
        self.details = details


# --------------------------------------------------------------------------- ledger


@dataclass
class LedgerEntry:
    """One thing the CSMS saw, in order.

    kind: "call" / "result" / "error" (CALLERROR) / "raw" (sent with send_raw) /
    "malformed" (a received frame that is no OCPP-J message) for messages;
    "connect" / "disconnect" / "rejected" (handshake refused) for connection events,
    with direction "-" and action "".
    For "result" and "error" entries `action` is the action of the CALL they answer
    (None-safe: "" when unknown); an "error" payload is
    {"errorCode": ..., "errorDescription": ..., "errorDetails": ...}.
    `note` says what was special, e.g. "fail_next: silent", "dropped (fail_next)".
    """

    index: int
    time: float  # time.time()
    station_id: str
    direction: str  # "in" (station → CSMS), "out" (CSMS → station), "-" for events
    action: str
    payload: Any
    kind: str = "call"
    unique_id: str | None = None
    note: str | None = None

    def __str__(self) -> str:
        stamp = datetime.fromtimestamp(self.time).strftime("%H:%M:%S.%f")[:-3]
        text = _dumps(self.payload)
        if len(text) > 160:
            text = text[:157] + "..."
        note = f"  [{self.note}]" if self.note else ""
        return f"#{self.index} {stamp} {self.station_id} {_label(self)} {text}{note}"


@dataclass
class TxRecord:
    transaction_id: int
    station_id: str
    connector_id: int
    id_tag: str
    meter_start: int
    start_timestamp: str
    id_tag_status: str = "Accepted"  # what StartTransaction.conf answered
    reservation_id: int | None = None
    meter_stop: int | None = None
    stop_reason: str | None = None  # None also when the station omitted it (= Local)
    stop_timestamp: str | None = None
    stop_id_tag: str | None = None
    transaction_data: list | None = None
    meter_values: list = field(default_factory=list)  # MeterValue objects (camelCase dicts)
    start_count: int = 1  # StartTransaction.req received for it (>1: the station retried)
    stop_count: int = 0  # StopTransaction.req received for it
    # session serials, to tell a retry after a reconnect from a double send
    start_serial: int = field(default=0, repr=False)
    stop_serial: int = field(default=0, repr=False)
    stop_payload: dict | None = field(default=None, repr=False)

    @property
    def stopped(self) -> bool:
        return self.stop_count > 0


@dataclass
class Handshake:
    """What a station's websocket opening handshake looked like."""

    station_id: str
    path: str
    offered_subprotocols: list[str]
    authorization: str | None  # the raw Authorization header
    username: str | None = None  # from Basic auth, when parseable
    status: int = 101  # HTTP status answered (101 = accepted)
    subprotocol: str | None = None  # negotiated; None = none (the CSMS then closes, 1002)
    remote: str | None = None


@dataclass
class Ledger:
    entries: list[LedgerEntry] = field(default_factory=list)
    transactions: dict[int, TxRecord] = field(default_factory=dict)
    status: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)
    boot_count: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    boot_info: dict[str, dict] = field(default_factory=dict)  # last BootNotification.req
    registration: dict[str, str] = field(default_factory=dict)  # last boot status answered
    data_transfers: list[tuple[str, dict]] = field(default_factory=list)
    firmware_status: dict[str, str] = field(default_factory=dict)
    diagnostics_status: dict[str, str] = field(default_factory=dict)
    # MeterValues.req without transactionId: (station_id, connector_id, meterValue list)
    meter_values_without_tx: list[tuple[str, int, list]] = field(default_factory=list)
    # StopTransaction.req whose transactionId was not known (incl. the errata's -1)
    unknown_stops: list[tuple[str, dict]] = field(default_factory=list)
    next_transaction_id: int = 1

    def received(self, action: str | None = None, station_id: str | None = None) -> list:
        """Payloads of the CALLs received (optionally of one action / station), in order."""
        return [e.payload for e in self._calls("in", action, station_id)]

    def sent(self, action: str | None = None, station_id: str | None = None) -> list:
        """Payloads of the CALLs the CSMS sent (via call()), in order."""
        return [e.payload for e in self._calls("out", action, station_id)]

    def actions(self, station_id: str | None = None, direction: str = "in") -> list[str]:
        """Action names of the CALLs received (or sent), in order: handy for ordering checks."""
        return [e.action for e in self._calls(direction, None, station_id)]

    def active_transactions(self, station_id: str | None = None) -> list[TxRecord]:
        return [
            tx
            for tx in self.transactions.values()
            if not tx.stopped and (station_id is None or tx.station_id == station_id)
        ]

    def _calls(self, direction: str, action: str | None, station_id: str | None):
        return [
            e
            for e in self.entries
            if e.kind == "call"
            and e.direction == direction
            and (action is None or e.action == action)
            and (station_id is None or e.station_id == station_id)
        ]


# --------------------------------------------------------------------------- helpers


def _dumps(payload: Any) -> str:
    try:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(payload)


def _canonical(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


def _label(entry: LedgerEntry) -> str:
    arrow = {"in": "→", "out": "←"}.get(entry.direction, "·")
    if entry.kind == "call":
        return f"{arrow} {entry.action}"
    if entry.kind == "result":
        return f"{arrow} {entry.action or '?'}.conf"
    if entry.kind == "error":
        return f"{arrow} {entry.action or '?'} CALLERROR"
    if entry.kind in ("raw", "malformed"):
        return f"{arrow} {entry.kind.upper()}"
    return f"{arrow} [{entry.kind}]"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _bad_timestamps(payload: Any, path: str = "") -> list[str]:
    """Paths of `timestamp` fields that are not ISO 8601 date-times with a UTC offset.

    The 1.6 schemas say "format": "date-time", which jsonschema does not check by default.
    """
    bad: list[str] = []
    if isinstance(payload, dict):
        for key, value in payload.items():
            where = f"{path}.{key}" if path else key
            if key == "timestamp" and isinstance(value, str):
                try:
                    parsed = datetime.fromisoformat(value)
                except ValueError:
                    bad.append(f"{where}={value!r}")
                else:
                    if parsed.tzinfo is None or "T" not in value:
                        bad.append(f"{where}={value!r}")
            else:
                bad.extend(_bad_timestamps(value, where))
    elif isinstance(payload, list):
        for i, value in enumerate(payload):
            bad.extend(_bad_timestamps(value, f"{path}[{i}]"))
    return bad


def _cause(exc: OCPPError) -> str:
    """The first line of what an ocpp error says (jsonschema's own text is long)."""
    cause = exc.details.get("cause") if isinstance(exc.details, dict) else None
    return str(cause or exc.description).strip().splitlines()[0]


def _key(unique_id: Any) -> Any:
    """A dict key for a unique id as received (a station may send any JSON there)."""
    return unique_id if isinstance(unique_id, str | int | float) else _canonical(unique_id)


def _station_id_from_path(path: str) -> str:
    return unquote(urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1])


# --------------------------------------------------------------------------- sessions


class _Session:
    """Version-independent part of one connected station (mixed into an ocpp ChargePoint).

    It replaces `route_message`/`_send` of `ocpp.ChargePoint` so that every frame is
    recorded, fail_next is applied, the station's schema errors become violations, and
    responses go to our own `call_action()`/`send_raw()` (per-unique-id futures, so a
    waiting call fails at once when the connection drops). Version subclasses add the
    `@on` handlers; they read the camelCase payload from `self._payload`.
    """

    ocpp_version = ""
    # actions allowed while the registration is Pending without a TriggerMessage
    _allowed_while_pending: frozenset[str] = frozenset({"BootNotification"})

    def __init__(self, csms: Csms, station_id: str, ws: ServerConnection, serial: int):
        super().__init__(station_id, ws, response_timeout=10, logger=_ocpp_log)  # type: ignore[call-arg]
        self.csms = csms
        self.ws = ws
        self.serial = serial
        self.closed = asyncio.Event()
        self._payload: dict = {}
        self._replay_of_lost = False
        self._recv_task: asyncio.Task | None = None
        self._outstanding: dict[str, tuple[str, asyncio.Future]] = {}  # our CALLs
        # unique id of a received CALL → (action, canonical payload) until answered
        self._incoming: dict[Any, tuple[str, str]] = {}
        self._sent_actions: dict[str, str] = {}  # unique id of every CALL we sent → action
        self._raw_waiters: collections.deque[asyncio.Future] = collections.deque()
        self._drop_answers: set[Any] = set()  # unique ids whose answer fail_next drops
        self._lock = asyncio.Lock()  # one outstanding CALL per connection (OCPP-J)

    # ---- receiving

    async def run(self) -> None:
        self._recv_task = asyncio.current_task()
        try:
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    self.csms._violation(self.id, "sent a binary frame; OCPP-J uses text frames")
                    raw = raw.decode("utf-8", errors="replace")
                try:
                    await self.route_message(raw)
                except ConnectionClosed:
                    raise
                except Exception:  # a bug of ours must not cost the station its connection
                    log.exception("%s: CSMS failed to handle %r", self.id, raw)
        except ConnectionClosed:
            pass
        finally:
            self._closed()

    def _closed(self) -> None:
        self.closed.set()
        for action, fut in self._outstanding.values():
            if not fut.done():
                fut.set_exception(
                    ConnectionError(f"{self.id} disconnected while {action} awaited its answer")
                )
        while self._raw_waiters:
            fut = self._raw_waiters.popleft()
            if not fut.done():
                fut.set_result(None)

    async def route_message(self, raw_msg: str) -> None:
        csms = self.csms
        try:
            frame = json.loads(raw_msg)
        except ValueError:
            frame = None
        try:
            msg = unpack(raw_msg)
        except OCPPError as exc:
            csms._record(self.id, "in", "malformed", "", {"text": raw_msg})
            csms._violation(self.id, f"malformed frame ({exc.code}: {exc.details}): {raw_msg!r}")
            if isinstance(frame, list) and len(frame) >= 2 and frame[0] == 2:
                error = CallError(frame[1], exc.code, exc.description, exc.details)
                await self._send(error.to_json())
            elif isinstance(frame, list) and frame and frame[0] in (3, 4):
                self._answer_raw_waiter(frame)
            return

        if isinstance(msg, Call):
            await self._receive_call(msg)
            return

        uid = msg.unique_id
        action = self._sent_actions.get(_key(uid), "")
        kind = "result" if isinstance(msg, CallResult) else "error"
        payload = msg.payload if kind == "result" else _error_payload(msg)
        outstanding = self._outstanding.get(_key(uid))
        if outstanding is not None and not outstanding[1].done():
            csms._record(self.id, "in", kind, action, payload, uid)
            outstanding[1].set_result(msg)
            return
        if self._raw_waiters:
            csms._record(self.id, "in", kind, action, payload, uid, note="to send_raw")
            self._answer_raw_waiter(frame)
            return
        if _key(uid) in self._sent_actions:
            csms._record(self.id, "in", kind, action, payload, uid, note="late answer")
        else:
            csms._record(self.id, "in", kind, action, payload, uid, note="unexpected")
            csms._violation(self.id, f"answer to unknown unique id {uid!r}: {raw_msg!r}")

    def _answer_raw_waiter(self, frame: list) -> None:
        while self._raw_waiters:
            fut = self._raw_waiters.popleft()
            if not fut.done():
                fut.set_result(frame)
                return

    async def _receive_call(self, msg: Call) -> None:
        csms = self.csms
        uid, action = msg.unique_id, msg.action
        payload = msg.payload
        entry = csms._record(self.id, "in", "call", str(action), payload, uid)
        if not isinstance(uid, str) or not 0 < len(uid) <= 36:
            csms._violation(self.id, f"{action}: unique id {uid!r} is not a string of 1-36 chars")
        canonical = _canonical(payload)
        self._incoming[_key(uid)] = (str(action), canonical)
        self._check_registration(str(action))

        mode = csms._take_failure(self.id, str(action))
        if mode is not None:
            entry.note = f"fail_next: {mode}"
            log.info("%s: fail_next %s for %s", self.id, mode, action)
            if mode == "silent":
                self._incoming.pop(_key(uid), None)
                return
            if mode == "error":
                error = InternalError(description="fail_next: simulated failure")
                await self._send(msg.create_call_error(error).to_json())
                return
            self._drop_answers.add(_key(uid))  # drop_answer

        lost = csms._lost.get(self.id, set())
        key = (str(action), canonical)
        self._replay_of_lost = key in lost
        lost.discard(key)
        try:
            await self._handle_call(msg)
        except OCPPError as exc:
            await self._send(msg.create_call_error(exc).to_json())
        finally:
            self._replay_of_lost = False

    def _check_registration(self, action: str) -> None:
        status = self.csms.ledger.registration.get(self.id)
        if action == "BootNotification" or status in (None, "Accepted"):
            return
        if status == "Rejected":
            self.csms._violation(self.id, f"sent {action} while its registration is Rejected")
            return
        allowed = self.csms._triggered.setdefault(self.id, set())
        if action in self._allowed_while_pending:
            return
        if action in allowed:
            allowed.discard(action)
            return
        self.csms._violation(
            self.id, f"sent {action} while its registration is Pending (not asked for)"
        )

    async def _handle_call(self, msg: Call) -> Any:
        # Unknown action: answer as OCPP-J says (ocpp 2.1.0 swaps the two codes).
        if not isinstance(msg.action, str) or msg.action not in self.route_map:
            if self._is_known_action(msg.action):
                error: OCPPError = NotSupportedError(
                    details={"cause": f"{msg.action} is not a Charge Point → CSMS action"}
                )
            else:
                error = OcppNotImplementedError(
                    details={"cause": f"{msg.action!r} is not an OCPP {self._ocpp_version} action"}
                )
            self.csms._violation(self.id, f"sent unsupported action {msg.action!r}")
            raise error
        try:
            await validate_payload(msg, self._ocpp_version)
        except OCPPError as exc:
            self.csms._violation(
                self.id,
                f"{msg.action} violates the schema ({exc.code}: "
                f"{_cause(exc)}): {_dumps(msg.payload)}",
            )
            raise
        bad = _bad_timestamps(msg.payload)
        if bad:
            self.csms._violation(
                self.id,
                f"{msg.action}: timestamp not an ISO 8601 date-time with UTC offset: "
                + ", ".join(bad),
            )
        self._payload = msg.payload
        return await super()._handle_call(msg)  # type: ignore[misc]

    def _is_known_action(self, action: Any) -> bool:
        return False

    # ---- sending

    async def _send(self, message: str) -> None:
        """Send a frame produced by ocpp (answers to received CALLs) and record it."""
        frame = json.loads(message)
        uid = frame[1]
        action, canonical = self._incoming.pop(_key(uid), ("", ""))
        if frame[0] == 3:
            kind, payload = "result", frame[2]
        else:
            kind = "error"
            payload = {"errorCode": frame[2], "errorDescription": frame[3]}
            payload["errorDetails"] = frame[4] if len(frame) > 4 else {}
        if _key(uid) in self._drop_answers:
            self._drop_answers.discard(_key(uid))
            self.csms._lost.setdefault(self.id, set()).add((action, canonical))
            self.csms._record(
                self.id, "out", kind, action, payload, uid, note="dropped (fail_next drop_answer)"
            )
            return
        self.csms._record(self.id, "out", kind, action, payload, uid)
        try:
            await self.ws.send(message)
        except ConnectionClosed:
            log.warning("%s: connection closed, answer to %s lost", self.id, action)
            if kind == "result" and action:
                self.csms._lost.setdefault(self.id, set()).add((action, canonical))

    async def call_action(self, action: str, payload: dict, timeout: float) -> dict:
        if self._recv_task is not None and asyncio.current_task() is self._recv_task:
            raise RuntimeError(
                "Csms.call() from inside a message handler/on_message would deadlock: "
                "the receive loop is busy; call it from another task"
            )
        uid = str(uuid.uuid4())
        # validate a copy: ocpp turns floats of some 1.6 actions into Decimals in place
        await validate_payload(Call(uid, action, copy.deepcopy(payload)), self._ocpp_version)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future = loop.create_future()
        sent = False
        try:
            async with asyncio.timeout(timeout):
                async with self._lock:
                    sent = True
                    self._outstanding[uid] = (action, fut)
                    self._sent_actions[uid] = action
                    self.csms._record(self.id, "out", "call", action, payload, uid)
                    try:
                        await self.ws.send(Call(uid, action, payload).to_json())
                    except ConnectionClosed as exc:
                        raise ConnectionError(f"{self.id} is disconnected: {exc}") from None
                    msg = await fut
        except TimeoutError:
            if not sent:
                raise TimeoutError(
                    f"{action} to {self.id} not sent within {timeout} s: "
                    "another CALL to it was still waiting for its answer"
                ) from None
            raise TimeoutError(
                f"{self.id} did not answer {action} {_dumps(payload)} within {timeout} s"
            ) from None
        finally:
            self._outstanding.pop(uid, None)

        if isinstance(msg, CallError):
            raise CallErrorReceived(msg.error_code, msg.error_description, msg.error_details)
        try:
            response = CallResult(uid, copy.deepcopy(msg.payload), action)
            await validate_payload(response, self._ocpp_version)
        except OCPPError as exc:
            self.csms._violation(
                self.id,
                f"{action}.conf violates the schema ({exc.code}: "
                f"{_cause(exc)}): {_dumps(msg.payload)}",
            )
            raise
        self._after_call(action, payload, msg.payload)
        return msg.payload

    def _after_call(self, action: str, payload: dict, response: dict) -> None:
        pass

    async def send_raw(self, text: str, timeout: float) -> list | None:
        try:
            frame = json.loads(text)
        except ValueError:
            frame = None
        action = ""
        if isinstance(frame, list) and len(frame) >= 3 and frame[0] == 2:
            action = str(frame[2])
            self._sent_actions[_key(frame[1])] = action
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._raw_waiters.append(fut)
        self.csms._record(self.id, "out", "raw", action, {"text": text})
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

    def _tolerated_retry(self, earlier_serial: int) -> bool:
        """A repeated message is a legitimate retry if its answer was lost: dropped on
        purpose (fail_next drop_answer), or a reconnect happened since the first copy."""
        return self._replay_of_lost or earlier_serial != self.serial

    def _boot_answer(self, results: Any) -> Any:
        """Record a BootNotification and answer it with `results` (the version's
        call_result module): the configured status and interval."""
        csms, ledger = self.csms, self.csms.ledger
        status = csms.boot_status
        ledger.boot_count[self.id] = ledger.boot_count.get(self.id, 0) + 1
        ledger.boot_info[self.id] = self._payload
        ledger.registration[self.id] = status
        csms._triggered.pop(self.id, None)
        interval = csms.heartbeat_interval if status == "Accepted" else csms.boot_interval
        return results.BootNotification(
            current_time=_now_iso(), interval=int(interval), status=status
        )


def _error_payload(msg: CallError) -> dict:
    return {
        "errorCode": msg.error_code,
        "errorDescription": msg.error_description,
        "errorDetails": msg.error_details,
    }


class Session16(_Session, _ChargePoint16):
    """One station speaking OCPP 1.6J ("ocpp1.6")."""

    ocpp_version = "1.6"

    def _is_known_action(self, action: Any) -> bool:
        try:
            Action(action)
        except ValueError:
            return False
        return True

    def _after_call(self, action: str, payload: dict, response: dict) -> None:
        # Pending registration: the station may send what the CSMS asked for.
        if action == "TriggerMessage" and response.get("status") == "Accepted":
            requested = payload.get("requestedMessage")
            if requested:
                self.csms._triggered.setdefault(self.id, set()).add(requested)

    @on(Action.boot_notification)
    def on_boot_notification(self, **_: Any) -> call_result.BootNotification:
        return self._boot_answer(call_result)

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=_now_iso())

    @on(Action.status_notification)
    def on_status_notification(self, **_: Any) -> call_result.StatusNotification:
        p = self._payload
        self.csms.ledger.status[(self.id, p["connectorId"])] = (p["status"], p["errorCode"])
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, **_: Any) -> call_result.Authorize:
        status = self.csms.id_tag_status(self._payload["idTag"])
        return call_result.Authorize(id_tag_info={"status": status})

    @on(Action.start_transaction)
    def on_start_transaction(self, **_: Any) -> call_result.StartTransaction:
        p = self._payload
        ledger = self.csms.ledger
        status = self.csms.id_tag_status(p["idTag"])
        key = (p["connectorId"], p["idTag"], p["meterStart"], p["timestamp"])
        tx = next(
            (
                t
                for t in ledger.transactions.values()
                if t.station_id == self.id
                and (t.connector_id, t.id_tag, t.meter_start, t.start_timestamp) == key
            ),
            None,
        )
        if tx is not None:  # the same StartTransaction again: answer the same id
            tx.start_count += 1
            if not self._tolerated_retry(tx.start_serial):
                self.csms._violation(
                    self.id,
                    f"StartTransaction sent twice (connector {tx.connector_id}, idTag "
                    f"{tx.id_tag}, {tx.start_timestamp}); answered transaction "
                    f"{tx.transaction_id} again",
                )
            if tx.stopped:
                self.csms._violation(
                    self.id,
                    f"StartTransaction repeated after transaction {tx.transaction_id} was stopped",
                )
            tx.start_serial = self.serial
            return call_result.StartTransaction(
                transaction_id=tx.transaction_id, id_tag_info={"status": status}
            )
        for other in ledger.active_transactions(self.id):
            if other.connector_id == p["connectorId"]:
                self.csms._violation(
                    self.id,
                    f"StartTransaction on connector {p['connectorId']} while transaction "
                    f"{other.transaction_id} is not stopped",
                )
        tx_id = ledger.next_transaction_id
        ledger.next_transaction_id += 1
        ledger.transactions[tx_id] = TxRecord(
            transaction_id=tx_id,
            station_id=self.id,
            connector_id=p["connectorId"],
            id_tag=p["idTag"],
            meter_start=p["meterStart"],
            start_timestamp=p["timestamp"],
            id_tag_status=status,
            reservation_id=p.get("reservationId"),
            start_serial=self.serial,
        )
        return call_result.StartTransaction(transaction_id=tx_id, id_tag_info={"status": status})

    @on(Action.stop_transaction)
    def on_stop_transaction(self, **_: Any) -> call_result.StopTransaction:
        p = self._payload
        ledger = self.csms.ledger
        tx_id = p["transactionId"]
        tx = ledger.transactions.get(tx_id)
        if tx is None or tx.station_id != self.id:
            ledger.unknown_stops.append((self.id, p))
            if tx_id == -1:  # errata: no StartTransaction.conf ever arrived
                log.warning("%s: StopTransaction with transactionId -1 (errata)", self.id)
            else:
                self.csms._violation(self.id, f"StopTransaction for unknown transaction {tx_id}")
        elif tx.stopped:
            tx.stop_count += 1
            if p == tx.stop_payload and self._tolerated_retry(tx.stop_serial):
                log.info("%s: StopTransaction %s retried (answer was lost)", self.id, tx_id)
            else:
                self.csms._violation(self.id, f"second StopTransaction for transaction {tx_id}")
            tx.stop_serial = self.serial
        else:
            tx.stop_count = 1
            tx.stop_payload = p
            tx.stop_serial = self.serial
            tx.meter_stop = p["meterStop"]
            tx.stop_timestamp = p["timestamp"]
            tx.stop_reason = p.get("reason")
            tx.stop_id_tag = p.get("idTag")
            tx.transaction_data = p.get("transactionData")
            if tx.meter_stop < tx.meter_start:
                self.csms._violation(
                    self.id,
                    f"StopTransaction {tx_id}: meterStop {tx.meter_stop} < meterStart "
                    f"{tx.meter_start}",
                )
        id_tag_info = {"status": "Accepted"} if "idTag" in p else None
        return call_result.StopTransaction(id_tag_info=id_tag_info)

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        p = self._payload
        ledger = self.csms.ledger
        tx_id = p.get("transactionId")
        if tx_id is None:
            ledger.meter_values_without_tx.append((self.id, p["connectorId"], p["meterValue"]))
            return call_result.MeterValues()
        tx = ledger.transactions.get(tx_id)
        if tx is None or tx.station_id != self.id:
            self.csms._violation(self.id, f"MeterValues for unknown transaction {tx_id}")
        elif tx.stopped:
            self.csms._violation(self.id, f"MeterValues for stopped transaction {tx_id}")
        else:
            if tx.connector_id != p["connectorId"]:
                self.csms._violation(
                    self.id,
                    f"MeterValues for transaction {tx_id} on connector {p['connectorId']}, "
                    f"but it runs on connector {tx.connector_id}",
                )
            values = p["meterValue"]
            if self._replay_of_lost and all(v in tx.meter_values for v in values):
                log.info("%s: MeterValues retried (answer was lost); not counted twice", self.id)
            else:
                tx.meter_values.extend(values)
        return call_result.MeterValues()

    @on(Action.data_transfer)
    def on_data_transfer(self, **_: Any) -> call_result.DataTransfer:
        self.csms.ledger.data_transfers.append((self.id, self._payload))
        return call_result.DataTransfer(status="Accepted")

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(
        self, **_: Any
    ) -> call_result.DiagnosticsStatusNotification:
        self.csms.ledger.diagnostics_status[self.id] = self._payload["status"]
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, **_: Any) -> call_result.FirmwareStatusNotification:
        self.csms.ledger.firmware_status[self.id] = self._payload["status"]
        return call_result.FirmwareStatusNotification()

    # Security whitepaper extension (1.6): notifications only, acknowledged.
    @on(Action.security_event_notification)
    def on_security_event_notification(self, **_: Any) -> call_result.SecurityEventNotification:
        return call_result.SecurityEventNotification()

    @on(Action.log_status_notification)
    def on_log_status_notification(self, **_: Any) -> call_result.LogStatusNotification:
        return call_result.LogStatusNotification()

    @on(Action.signed_firmware_status_notification)
    def on_signed_firmware_status_notification(
        self, **_: Any
    ) -> call_result.SignedFirmwareStatusNotification:
        self.csms.ledger.firmware_status[self.id] = self._payload["status"]
        return call_result.SignedFirmwareStatusNotification()


# --------------------------------------------------------------------------- the CSMS


class Csms:
    """OCPP Central System on one asyncio loop; see the module docstring."""

    #: websocket subprotocol → session class, in order of preference
    protocols: Mapping[str, type[_Session]] = {"ocpp1.6": Session16}

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        password: str | None = None,
        heartbeat_interval: int = 300,
        boot_status: str = "Accepted",
        boot_interval: int = 300,
        on_message: Callable[[str, str, str, Any], None] | None = None,
        close_timeout: float = 2.0,
    ) -> None:
        self.host = host
        self.port = port
        self.password = password
        self.heartbeat_interval = heartbeat_interval
        self.boot_status = boot_status
        self.boot_interval = boot_interval
        self.on_message = on_message
        self.close_timeout = close_timeout
        self.auth: dict[str, str] = {}
        self.unknown_tags_status = "Accepted"
        self.ledger = Ledger()
        self.protocols = dict(type(self).protocols)
        self.handshakes: dict[str, Handshake] = {}  # latest per station id
        self.handshake_log: list[Handshake] = []
        self._server: Server | None = None
        self._sessions: dict[str, _Session] = {}
        self._serial = 0
        self._failures: list[tuple[str, str | None, str]] = []  # (action, station, mode)
        self._lost: dict[str, set[tuple[str, str]]] = {}  # station → {(action, payload)}
        self._triggered: dict[str, set[str]] = {}  # Pending: actions asked by TriggerMessage
        self._pending_handshakes: dict[int, Handshake] = {}
        self._background: set[asyncio.Task] = set()
        self._changed = asyncio.Event()

    # ---- lifecycle

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}/ocpp"

    @property
    def connected(self) -> set[str]:
        return set(self._sessions)

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        """Listen on host:port (port 0: a free one, kept for later restarts)."""
        if self._server is not None:
            raise RuntimeError("Csms already started")
        self._server = await serve(
            self._handle_connection,
            self.host,
            self.port,
            subprotocols=list(self.protocols),
            select_subprotocol=self._select_subprotocol,
            process_request=self._process_request,
            close_timeout=self.close_timeout,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("CSMS listening on %s (stations connect to %s/<station-id>)", self.url, self.url)

    async def stop(self, *, abrupt: bool = False) -> None:
        """Close all connections (1001 going away; `abrupt`: drop TCP without a close
        frame) and the listening socket. start() again listens on the same port."""
        server, self._server = self._server, None
        if server is None:
            return
        if abrupt:
            for session in list(self._sessions.values()):
                session.ws.transport.abort()
        server.close()
        await server.wait_closed()
        for task in list(self._background):
            task.cancel()
        log.info("CSMS on port %s stopped", self.port)

    async def __aenter__(self) -> Csms:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- knobs

    def id_tag_status(self, id_tag: str) -> str:
        return self.auth.get(id_tag, self.unknown_tags_status)

    def fail_next(
        self, action: str, count: int = 1, mode: str = "error", *, station_id: str | None = None
    ) -> None:
        """Fail the next `count` received CALLs of `action` (of any station, or one).

        mode "error": answer CALLERROR InternalError (nothing is processed);
        "silent": never answer (nothing is processed; the station must time out);
        "drop_answer": process it normally but never send the answer (the answer is
        'lost', so the station's retry is a legitimate duplicate).
        Calls queue up: fail_next("X", 1, "silent"); fail_next("X") fails the next X
        silently, the one after with an error.
        """
        if mode not in FAIL_MODES:
            raise ValueError(f"mode must be one of {FAIL_MODES}, not {mode!r}")
        self._failures.extend([(action, station_id, mode)] * count)

    def clear_failures(self) -> None:
        self._failures.clear()

    def _take_failure(self, station_id: str, action: str) -> str | None:
        for i, (fail_action, fail_station, mode) in enumerate(self._failures):
            if fail_action == action and fail_station in (None, station_id):
                del self._failures[i]
                return mode
        return None

    # ---- talking to stations

    def _session(self, station_id: str) -> _Session:
        try:
            return self._sessions[station_id]
        except KeyError:
            raise ConnectionError(
                f"station {station_id!r} is not connected (connected: {sorted(self._sessions)})"
            ) from None

    async def call(self, station_id: str, action: str, payload: dict, timeout: float = 10) -> dict:
        """Send a CALL (camelCase payload) and return the CALLRESULT payload.

        Raises CallErrorReceived on CALLERROR, TimeoutError without an answer,
        ConnectionError when the station is not connected or disconnects meanwhile, and
        the ocpp schema error when our payload or the station's answer is invalid (the
        latter is also recorded as a violation). Must not be awaited by on_message.
        """
        return await self._session(station_id).call_action(action, payload, timeout)

    async def send_raw(self, station_id: str, text: str, timeout: float = 5) -> list | None:
        """Send any text frame; return the next CALLRESULT/CALLERROR frame the station
        sends that answers no call() in progress (parsed JSON), or None after timeout."""
        return await self._session(station_id).send_raw(text, timeout)

    async def disconnect(
        self, station_id: str, *, abrupt: bool = False, code: int = CloseCode.GOING_AWAY
    ) -> None:
        """Close that station's websocket (close frame `code`; `abrupt`: just drop TCP)
        and wait until the CSMS has forgotten the connection."""
        session = self._session(station_id)
        if abrupt:
            session.ws.transport.abort()
        else:
            await session.ws.close(code, "disconnected by the CSMS")
        try:
            async with asyncio.timeout(self.close_timeout + 1):
                await session.closed.wait()
                while self._sessions.get(station_id) is session:
                    await self._wait_change()
        except TimeoutError:
            log.warning("%s: connection did not finish closing", station_id)

    # ---- waiting

    async def _wait_change(self) -> None:
        await self._changed.wait()

    def _pulse(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def wait_for(
        self,
        predicate: Callable[[LedgerEntry], bool] | str,
        timeout: float = 10,
        *,
        after: int = 0,
    ) -> LedgerEntry:
        """The first ledger entry with index ≥ `after` that matches; a str matches a
        received CALL of that action. TimeoutError lists the recent entries."""
        if isinstance(predicate, str):
            action = predicate

            def matches(e: LedgerEntry) -> bool:
                return e.direction == "in" and e.kind == "call" and e.action == action

            what = f"received {action} CALL"
        else:
            matches = predicate
            what = f"an entry matching {getattr(predicate, '__name__', repr(predicate))}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pos = after
        while True:
            event = self._changed
            entries = self.ledger.entries
            while pos < len(entries):
                entry = entries[pos]
                pos += 1
                if matches(entry):
                    return entry
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(self._timeout_message(what, timeout, after))
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                pass

    async def wait_connected(self, station_id: str, timeout: float = 10) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while station_id not in self._sessions:
            event = self._changed
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    self._timeout_message(f"station {station_id!r} to connect", timeout, 0)
                )
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                pass

    def _timeout_message(self, what: str, timeout: float, after: int) -> str:
        entries = self.ledger.entries
        recent = entries[max(after, len(entries) - 12) :]
        lines = [
            f"no {what} within {timeout} s (ledger entries from #{after}; "
            f"{len(entries)} in total; connected: {sorted(self._sessions) or 'none'})"
        ]
        if recent:
            lines.append("recent entries:")
            lines.extend(f"  {e}" for e in recent)
        else:
            lines.append("no entries since then")
        if self.ledger.violations:
            lines.append(f"violations: {self.ledger.violations[-5:]}")
        return "\n".join(lines)

    # ---- recording

    def _record(
        self,
        station_id: str,
        direction: str,
        kind: str,
        action: str,
        payload: Any,
        unique_id: Any = None,
        note: str | None = None,
    ) -> LedgerEntry:
        entry = LedgerEntry(
            index=len(self.ledger.entries),
            time=time.time(),
            station_id=station_id,
            direction=direction,
            action=action or "",
            payload=payload,
            kind=kind,
            unique_id=unique_id,
            note=note,
        )
        self.ledger.entries.append(entry)
        if kind in _MESSAGE_KINDS:
            text = _dumps(payload)
            suffix = f"  [{note}]" if note else ""
            log.info("%s %s %s%s", station_id, _label(entry), text, suffix)
            if self.on_message is not None:
                try:
                    self.on_message(station_id, direction, entry.action, payload)
                except Exception:
                    log.exception("on_message callback failed")
        else:
            log.info("%s %s %s", station_id, kind, _dumps(payload))
        self._pulse()
        return entry

    def _violation(self, station_id: str, text: str) -> None:
        message = f"{station_id}: {text}"
        self.ledger.violations.append(message)
        log.warning("VIOLATION %s", message)
        self._pulse()

    # ---- websocket server

    def _select_subprotocol(self, connection: ServerConnection, offered: Any) -> str | None:
        # OCPP-J: without a common subprotocol complete the handshake without one and
        # close right after (websockets' default would answer HTTP 400 instead).
        for subprotocol in self.protocols:
            if subprotocol in offered:
                return subprotocol
        return None

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        station_id = _station_id_from_path(request.path)
        offered = [
            p.strip()
            for value in request.headers.get_all("Sec-WebSocket-Protocol")
            for p in value.split(",")
            if p.strip()
        ]
        authorization = request.headers.get("Authorization")
        remote = connection.remote_address
        hs = Handshake(
            station_id=station_id,
            path=request.path,
            offered_subprotocols=offered,
            authorization=authorization,
            remote=f"{remote[0]}:{remote[1]}" if remote else None,
        )
        username = password = None
        if authorization is not None:
            try:
                username, password = parse_authorization_basic(authorization)
                hs.username = username
            except InvalidHeader:
                pass
        self.handshakes[station_id] = hs
        self.handshake_log.append(hs)

        reason = None
        status = http.HTTPStatus.UNAUTHORIZED
        if not station_id:
            reason, status = "no station id in the URL path", http.HTTPStatus.NOT_FOUND
        elif self.password is not None:
            if authorization is None:
                reason = "missing Basic credentials"
            elif username is None:
                reason = "unsupported Authorization header"
            elif username != station_id or not hmac.compare_digest(
                password.encode(errors="surrogateescape"),  # type: ignore[union-attr]
                self.password.encode(errors="surrogateescape"),
            ):
                reason = "invalid credentials"
        if reason is not None:
            hs.status = int(status)
            response = connection.respond(status, reason + "\n")
            if status == http.HTTPStatus.UNAUTHORIZED:
                response.headers["WWW-Authenticate"] = build_www_authenticate_basic("chargerd-csms")
            self._record(station_id, "-", "rejected", "", {"status": int(status), "reason": reason})
            return response
        self._pending_handshakes[id(connection)] = hs
        return None

    async def _handle_connection(self, ws: ServerConnection) -> None:
        hs = self._pending_handshakes.pop(id(ws), None)
        station_id = hs.station_id if hs else _station_id_from_path(ws.request.path)
        subprotocol = ws.subprotocol
        if hs is not None:
            hs.subprotocol = subprotocol
        session_cls = self.protocols.get(subprotocol) if subprotocol else None
        if session_cls is None:
            offered = hs.offered_subprotocols if hs else []
            self._violation(
                station_id,
                f"offered no supported subprotocol (offered {offered}, "
                f"supported {list(self.protocols)}); closed with 1002",
            )
            self._record(station_id, "-", "rejected", "", {"subprotocol": None, "code": 1002})
            await ws.close(
                CloseCode.PROTOCOL_ERROR, f"unsupported subprotocol; use {list(self.protocols)}"
            )
            return
        self._serial += 1
        session = session_cls(self, station_id, ws, self._serial)
        old = self._sessions.get(station_id)
        self._sessions[station_id] = session
        self._record(
            station_id,
            "-",
            "connect",
            "",
            {"subprotocol": subprotocol, "remote": hs.remote if hs else None},
        )
        if old is not None:
            log.warning("%s: new connection replaces the previous one", station_id)
            task = asyncio.create_task(old.ws.close(CloseCode.NORMAL_CLOSURE, "replaced"))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        try:
            await session.run()
        finally:
            if self._sessions.get(station_id) is session:
                del self._sessions[station_id]
            self._record(
                station_id,
                "-",
                "disconnect",
                "",
                {"code": ws.close_code, "reason": ws.close_reason},
            )


# --------------------------------------------------------------------------- CLI


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="dev-csms",
        description="Development OCPP Central System (1.6J or 2.0.1): logs every message in "
        "and out. Stations connect to ws://HOST:PORT/ocpp/<station-id> with subprotocol ocpp1.6 "
        "(or ocpp2.0.1 with --ocpp 2.0.1).",
    )
    parser.add_argument(
        "--ocpp", choices=["1.6", "2.0.1"], default="1.6", help="OCPP version (%(default)s)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=9000, help="port (default %(default)s; 0=any)")
    parser.add_argument("--password", help="require Basic auth: user = station id, this password")
    parser.add_argument("--heartbeat-interval", type=int, default=300, metavar="S")
    parser.add_argument(
        "--boot-status", default="Accepted", choices=["Accepted", "Pending", "Rejected"]
    )
    parser.add_argument(
        "--boot-interval", type=int, default=300, metavar="S", help="retry interval if not Accepted"
    )
    parser.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="ID=STATUS",
        help="answer STATUS (Accepted, Blocked, Expired, Invalid, ConcurrentTx) for id tag ID",
    )
    parser.add_argument(
        "--unknown-tags-status", default="Accepted", help="status for other id tags (%(default)s)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    for item in args.tag:
        if "=" not in item:
            parser.error(f"--tag wants ID=STATUS, got {item!r}")
    return args


async def _serve(args: argparse.Namespace) -> int:
    csms_class = Csms
    if args.ocpp == "2.0.1":
        from .csms201 import Csms201 as csms_class  # type: ignore[assignment]
    csms = csms_class(
        args.host,
        args.port,
        password=args.password,
        heartbeat_interval=args.heartbeat_interval,
        boot_status=args.boot_status,
        boot_interval=args.boot_interval,
    )
    csms.auth = dict(item.split("=", 1) for item in args.tag)
    csms.unknown_tags_status = args.unknown_tags_status
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            await csms.start()
        except OSError as exc:
            log.error("cannot listen on %s:%s: %s", args.host, args.port, exc)
            return 1
        await stop.wait()
        log.info("stopping")
        await csms.stop()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if csms.ledger.violations:
        log.info("%d violation(s) seen:", len(csms.ledger.violations))
        for violation in csms.ledger.violations:
            log.info("  %s", violation)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(message)s",
    )
    if not args.verbose:
        _ocpp_log.setLevel(logging.CRITICAL)  # our own lines say it all
        logging.getLogger("websockets").setLevel(logging.WARNING)
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
