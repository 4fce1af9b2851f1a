"""One connected station, the same for both OCPP versions.

`Session` is mixed into an `ocpp` ChargePoint of the station's version (v16.py, v201.py).
It replaces `route_message`/`_send` of `ocpp.ChargePoint` so that every frame is recorded,
fail_next is applied and the station's schema errors become violations; the CALLs of the
CSMS and their answers go through `OutgoingCalls` (outgoing.py). The handlers both versions
answer alike are here; the version classes add theirs, reading the camelCase payload from
`self.payload`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from enum import Enum
from types import ModuleType
from typing import Any, ClassVar, Protocol

from ocpp.exceptions import InternalError, NotSupportedError, OCPPError
from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.messages import Call, CallError, CallResult, unpack, validate_payload
from ocpp.routing import on
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from .frames import (
    bad_timestamps,
    canonical,
    dumps,
    error_payload,
    now_iso,
    schema_cause,
    unique_id_key,
)
from .ledger import Ledger, Recorder
from .outgoing import OutgoingCalls

# Logger names from when the CSMS lived in chargerd/; the soak and bench scripts set them.
log = logging.getLogger("chargerd.csms")
# The `ocpp` package logs every frame at INFO and schema errors with a traceback; we log
# frames and violations ourselves, so its messages go to a child logger that the
# dev-csms command quietens unless -v.
ocpp_log = logging.getLogger("chargerd.csms.ocpp")


@dataclass
class StationMemory:
    """What the CSMS remembers of a station across its connections."""

    # (action, canonical payload) of CALLs whose answer never reached the station, so
    # that its retry is a legitimate repeat
    lost_answers: set[tuple[str, str]] = field(default_factory=set)
    # while Pending: the messages the CSMS asked for with TriggerMessage
    triggered: set[str] = field(default_factory=set)


class SessionHost(Recorder, Protocol):
    """What a session needs of the CSMS it belongs to (server.CsmsServer)."""

    @property
    def ledger(self) -> Ledger[Any]: ...

    @property
    def boot_status(self) -> str: ...

    @property
    def boot_interval(self) -> int: ...

    @property
    def heartbeat_interval(self) -> int: ...

    def id_tag_status(self, id_tag: str) -> str: ...

    def memory(self, station_id: str) -> StationMemory: ...

    def take_failure(self, station_id: str, action: str) -> str | None: ...


class Session:
    """Version-independent part of one connected station (mixed into an ocpp ChargePoint)."""

    ocpp_version: ClassVar[str] = ""
    actions: ClassVar[type[Enum]]  # the version's Action enum: what is an OCPP action at all
    results: ClassVar[ModuleType]  # the version's ocpp call_result module

    def __init__(self, csms: SessionHost, station_id: str, ws: ServerConnection, serial: int):
        super().__init__(station_id, ws, response_timeout=10, logger=ocpp_log)  # type: ignore[call-arg]
        self.id: str = station_id  # as ChargePoint sets it; declared for type checkers
        self.csms = csms
        self.ws = ws
        self.serial = serial  # the CSMS counts connections, to tell a retry after a reconnect
        self.memory = csms.memory(station_id)
        self.closed = asyncio.Event()
        self.payload: dict = {}  # camelCase payload of the CALL being handled
        self.replaying_lost_answer = False  # that CALL repeats one whose answer was lost
        self.calls = OutgoingCalls(station_id, ws, csms, self.ocpp_version)
        # unique id of a received CALL → (action, canonical payload) until answered
        self._incoming: dict[Any, tuple[str, str]] = {}
        self._drop_answers: set[Any] = set()  # unique ids whose answer fail_next drops

    # ---- hooks of the versions

    def asked_for_while_pending(self, action: str) -> bool:
        """Whether the CSMS asked for `action` while the registration is Pending."""
        return False

    def after_call(self, action: str, payload: dict, response: dict) -> None:
        """Note what a CALL of the CSMS, answered with `response`, allows the station."""
        if action == "TriggerMessage" and response.get("status") == "Accepted":
            requested = payload.get("requestedMessage")
            if requested:
                self.memory.triggered.add(requested)

    # ---- receiving

    async def run(self) -> None:
        self.calls.receive_task = asyncio.current_task()
        try:
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    self.csms.violation(self.id, "sent a binary frame; OCPP-J uses text frames")
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
            self.closed.set()
            self.calls.connection_lost()

    async def route_message(self, raw_msg: str) -> None:
        csms = self.csms
        try:
            frame = json.loads(raw_msg)
        except ValueError:
            frame = None
        try:
            msg = unpack(raw_msg)
        except OCPPError as exc:
            csms.record(self.id, "in", "malformed", "", {"text": raw_msg})
            csms.violation(self.id, f"malformed frame ({exc.code}: {exc.details}): {raw_msg!r}")
            if isinstance(frame, list) and len(frame) >= 2 and frame[0] == 2:
                error = CallError(frame[1], exc.code, exc.description, exc.details)
                await self._send(error.to_json())
            elif isinstance(frame, list) and frame and frame[0] in (3, 4):
                self.calls.answer_raw(frame)
            return

        if isinstance(msg, Call):
            await self._receive_call(msg)
            return

        uid, calls = msg.unique_id, self.calls
        action = calls.action_of(uid)
        kind = "result" if isinstance(msg, CallResult) else "error"
        payload = msg.payload if kind == "result" else error_payload(msg)
        if calls.awaited(uid):
            csms.record(self.id, "in", kind, action, payload, uid)
            calls.answer(uid, msg)
        elif calls.raw_waiting:
            csms.record(self.id, "in", kind, action, payload, uid, note="to send_raw")
            calls.answer_raw(frame)
        elif calls.sent(uid):
            csms.record(self.id, "in", kind, action, payload, uid, note="late answer")
        else:
            csms.record(self.id, "in", kind, action, payload, uid, note="unexpected")
            csms.violation(self.id, f"answer to unknown unique id {uid!r}: {raw_msg!r}")

    async def _receive_call(self, msg: Call) -> None:
        csms = self.csms
        uid, action = msg.unique_id, str(msg.action)
        entry = csms.record(self.id, "in", "call", action, msg.payload, uid)
        if not isinstance(uid, str) or not 0 < len(uid) <= 36:
            csms.violation(self.id, f"{action}: unique id {uid!r} is not a string of 1-36 chars")
        seen = (action, canonical(msg.payload))
        self._incoming[unique_id_key(uid)] = seen
        self._check_registration(action)

        mode = csms.take_failure(self.id, action)
        if mode is not None:
            entry.note = f"fail_next: {mode}"
            log.info("%s: fail_next %s for %s", self.id, mode, action)
            if mode == "silent":
                self._incoming.pop(unique_id_key(uid), None)
                return
            if mode == "error":
                error = InternalError(description="fail_next: simulated failure")
                await self._send(msg.create_call_error(error).to_json())
                return
            self._drop_answers.add(unique_id_key(uid))  # drop_answer

        lost = self.memory.lost_answers
        self.replaying_lost_answer = seen in lost
        lost.discard(seen)
        try:
            await self._handle_call(msg)
        except OCPPError as exc:
            await self._send(msg.create_call_error(exc).to_json())
        finally:
            self.replaying_lost_answer = False

    def _check_registration(self, action: str) -> None:
        status = self.csms.ledger.registration.get(self.id)
        if action == "BootNotification" or status in (None, "Accepted"):
            return
        if status == "Rejected":
            self.csms.violation(self.id, f"sent {action} while its registration is Rejected")
        elif not self.asked_for_while_pending(action):
            self.csms.violation(
                self.id, f"sent {action} while its registration is Pending (not asked for)"
            )

    async def _handle_call(self, msg: Call) -> Any:
        # Unknown action: answer as OCPP-J says (ocpp 2.1.0 swaps the two codes).
        if not isinstance(msg.action, str) or msg.action not in self.route_map:  # type: ignore[attr-defined]
            if self._is_known_action(msg.action):
                error: OCPPError = NotSupportedError(
                    details={"cause": f"{msg.action} is not a Charge Point → CSMS action"}
                )
            else:
                error = OcppNotImplementedError(
                    details={"cause": f"{msg.action!r} is not an OCPP {self.ocpp_version} action"}
                )
            self.csms.violation(self.id, f"sent unsupported action {msg.action!r}")
            raise error
        try:
            await validate_payload(msg, self.ocpp_version)
        except OCPPError as exc:
            self.csms.violation(
                self.id,
                f"{msg.action} violates the schema ({exc.code}: "
                f"{schema_cause(exc)}): {dumps(msg.payload)}",
            )
            raise
        bad = bad_timestamps(msg.payload)
        if bad:
            self.csms.violation(
                self.id,
                f"{msg.action}: timestamp not an ISO 8601 date-time with UTC offset: "
                + ", ".join(bad),
            )
        self.payload = msg.payload
        return await super()._handle_call(msg)  # type: ignore[misc]

    def _is_known_action(self, action: Any) -> bool:
        try:
            self.actions(action)
        except ValueError:
            return False
        return True

    # ---- sending

    async def _send(self, message: str) -> None:
        """Send a frame produced by ocpp (answers to received CALLs) and record it."""
        frame = json.loads(message)
        uid = frame[1]
        key = unique_id_key(uid)
        action, payload_text = self._incoming.pop(key, ("", ""))
        if frame[0] == 3:
            kind, payload = "result", frame[2]
        else:
            kind = "error"
            payload = {"errorCode": frame[2], "errorDescription": frame[3]}
            payload["errorDetails"] = frame[4] if len(frame) > 4 else {}
        if key in self._drop_answers:
            self._drop_answers.discard(key)
            self.memory.lost_answers.add((action, payload_text))
            self.csms.record(
                self.id, "out", kind, action, payload, uid, note="dropped (fail_next drop_answer)"
            )
            return
        self.csms.record(self.id, "out", kind, action, payload, uid)
        try:
            await self.ws.send(message)
        except ConnectionClosed:
            log.warning("%s: connection closed, answer to %s lost", self.id, action)
            if kind == "result" and action:
                self.memory.lost_answers.add((action, payload_text))

    async def call_action(self, action: str, payload: dict, timeout: float) -> dict:
        """A CALL of the CSMS and the station's CALLRESULT payload (see CsmsServer.call)."""
        response = await self.calls.call(action, payload, timeout)
        self.after_call(action, payload, response)
        return response

    # ---- checks the versions share

    def tolerated_retry(self, earlier_serial: int) -> bool:
        """A repeated message is a legitimate retry if its answer was lost: dropped on
        purpose (fail_next drop_answer), or a reconnect happened since the first copy."""
        return self.replaying_lost_answer or earlier_serial != self.serial

    # ---- what both versions answer alike

    @on("BootNotification")
    def on_boot_notification(self, **_: Any) -> Any:
        """Record the boot and answer the configured status and interval."""
        csms, ledger = self.csms, self.csms.ledger
        status = csms.boot_status
        ledger.boot_count[self.id] = ledger.boot_count.get(self.id, 0) + 1
        ledger.boot_info[self.id] = self.payload
        ledger.registration[self.id] = status
        self.memory.triggered.clear()
        interval = csms.heartbeat_interval if status == "Accepted" else csms.boot_interval
        return self.results.BootNotification(
            current_time=now_iso(), interval=int(interval), status=status
        )

    @on("Heartbeat")
    def on_heartbeat(self, **_: Any) -> Any:
        return self.results.Heartbeat(current_time=now_iso())

    @on("DataTransfer")
    def on_data_transfer(self, **_: Any) -> Any:
        self.csms.ledger.data_transfers.append((self.id, self.payload))
        return self.results.DataTransfer(status="Accepted")

    @on("FirmwareStatusNotification")
    def on_firmware_status_notification(self, **_: Any) -> Any:
        self.csms.ledger.firmware_status[self.id] = self.payload["status"]
        return self.results.FirmwareStatusNotification()

    @on("LogStatusNotification")
    def on_log_status_notification(self, **_: Any) -> Any:
        return self.results.LogStatusNotification()

    @on("SignCertificate")
    def on_sign_certificate(self, **_: Any) -> Any:
        """Accepted; the CSR stays in the ledger, and whoever plays the CSMS's certificate
        authority (a test) signs it and sends CertificateSigned with `call`."""
        return self.results.SignCertificate(status="Accepted")
