"""OCPP-J framing (chargerd.rpc) against a real websocket peer on 127.0.0.1.

The peer plays the CSMS by hand: it sends raw frames and reads what the station's Rpc
answers, so every CALLERROR code is checked on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from chargerd.rpc import OCPP16, OCPP201, CallError, ConnectionLost, Rpc, Version

WAIT_S = 2.0  # the longest a single wait may take before the test fails
STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}


class Peer:
    """The CSMS end of one websocket: frames in a queue, frames sent by hand."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[str | bytes] = asyncio.Queue()
        self.ws: ServerConnection | None = None
        self.connected = asyncio.Event()

    async def handler(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.connected.set()
        with contextlib.suppress(ConnectionClosed):
            async for text in ws:
                await self.frames.put(text)

    async def send(self, frame: Any) -> None:
        assert self.ws is not None
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, timeout: float = WAIT_S) -> list[Any]:
        return json.loads(await asyncio.wait_for(self.frames.get(), timeout))

    async def request(self, frame: Any) -> list[Any]:
        """Send a frame and return the station's next frame (its answer)."""
        await self.send(frame)
        return await self.recv()

    async def expect_silence(self, within: float = 0.2) -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(self.frames.get(), within)


Connect = Callable[..., Awaitable[tuple[Peer, Rpc]]]


async def answer_from_table(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    if action == "ChangeAvailability":
        return {"status": "Accepted"}
    if action == "Reset":
        raise RuntimeError("the reset relay is stuck")
    if action == "ClearCache":
        return {"status": "NotAValidStatus"}  # an answer that breaks the schema
    raise AssertionError(f"unexpected {action}")


@pytest.fixture
async def station() -> AsyncIterator[Connect]:
    """connect(version, handler, supported) -> (peer, rpc): an Rpc serving a real socket."""
    async with contextlib.AsyncExitStack() as stack:

        async def _connect(
            version: Version = OCPP16,
            handler: Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]] = (
                answer_from_table
            ),
            supported: set[str] | None = None,
        ) -> tuple[Peer, Rpc]:
            peer = Peer()
            subprotocol = "ocpp1.6" if version is OCPP16 else "ocpp2.0.1"
            server = await stack.enter_async_context(
                serve(peer.handler, "127.0.0.1", 0, subprotocols=[subprotocol])  # type: ignore[list-item]
            )
            port = server.sockets[0].getsockname()[1]
            ws = await stack.enter_async_context(
                connect(
                    f"ws://127.0.0.1:{port}/CP-1",
                    subprotocols=[subprotocol],  # type: ignore[list-item]
                    proxy=None,
                )
            )
            assert ws.subprotocol == subprotocol
            rpc = Rpc(
                ws,
                version,
                handler,
                {"ChangeAvailability", "Reset", "ClearCache"} if supported is None else supported,
            )
            serving = asyncio.create_task(rpc.serve())
            stack.push_async_callback(_cancel, serving)
            await asyncio.wait_for(peer.connected.wait(), WAIT_S)
            return peer, rpc

        yield _connect


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def is_callerror(frame: list[Any], message_id: str, code: str) -> bool:
    return (
        len(frame) == 5
        and frame[:3] == [4, message_id, code]
        and isinstance(frame[3], str)
        and frame[4] == {}
    )


# --- answering CALLs (OCPP-J 1.6) --------------------------------------------------------------


async def test_a_supported_valid_call_is_answered_with_a_callresult(station: Connect) -> None:
    peer, _ = await station()
    frame = await peer.request(
        [2, "m1", "ChangeAvailability", {"connectorId": 1, "type": "Operative"}]
    )
    assert frame == [3, "m1", {"status": "Accepted"}]


async def test_an_unknown_action_is_not_implemented(station: Connect) -> None:
    peer, _ = await station()
    frame = await peer.request([2, "m1", "MakeCoffee", {}])
    assert is_callerror(frame, "m1", "NotImplemented"), frame


async def test_a_known_action_the_station_does_not_support_is_not_supported(
    station: Connect,
) -> None:
    peer, _ = await station()
    frame = await peer.request([2, "m1", "ReserveNow", {}])
    assert is_callerror(frame, "m1", "NotSupported"), frame


async def test_a_missing_required_field_is_an_occurence_constraint_violation(
    station: Connect,
) -> None:
    peer, _ = await station()
    frame = await peer.request([2, "m1", "ChangeAvailability", {"connectorId": 1}])
    assert is_callerror(frame, "m1", "OccurenceConstraintViolation"), frame


async def test_a_wrong_type_is_a_type_constraint_violation(station: Connect) -> None:
    peer, _ = await station()
    payload = {"connectorId": "one", "type": "Operative"}
    frame = await peer.request([2, "m1", "ChangeAvailability", payload])
    assert is_callerror(frame, "m1", "TypeConstraintViolation"), frame


async def test_a_value_outside_the_enum_is_a_property_constraint_violation(
    station: Connect,
) -> None:
    peer, _ = await station()
    payload = {"connectorId": 1, "type": "Sideways"}
    frame = await peer.request([2, "m1", "ChangeAvailability", payload])
    assert is_callerror(frame, "m1", "PropertyConstraintViolation"), frame


async def test_an_extra_property_is_a_formation_violation(station: Connect) -> None:
    peer, _ = await station()
    payload = {"connectorId": 1, "type": "Operative", "colour": "red"}
    frame = await peer.request([2, "m1", "ChangeAvailability", payload])
    assert is_callerror(frame, "m1", "FormationViolation"), frame


async def test_a_payload_that_is_not_an_object_is_a_formation_violation(station: Connect) -> None:
    peer, _ = await station()
    frame = await peer.request([2, "m1", "ChangeAvailability", [1, "Operative"]])
    assert is_callerror(frame, "m1", "FormationViolation"), frame


async def test_a_frame_that_is_not_json_gets_no_answer_and_the_connection_stays_up(
    station: Connect,
) -> None:
    peer, rpc = await station()
    await peer.send("[2, 'm1', not json at all")
    await peer.expect_silence()
    assert not rpc.closed

    frame = await peer.request(
        [2, "m2", "ChangeAvailability", {"connectorId": 1, "type": "Operative"}]
    )
    assert frame == [3, "m2", {"status": "Accepted"}]


async def test_a_call_with_two_items_is_a_protocol_error(station: Connect) -> None:
    peer, _ = await station()
    frame = await peer.request([2, "m1"])
    assert is_callerror(frame, "m1", "ProtocolError"), frame


async def test_an_unknown_message_type_with_an_id_is_a_formation_violation(
    station: Connect,
) -> None:
    peer, _ = await station()
    frame = await peer.request([7, "m1", "Heartbeat", {}])
    assert is_callerror(frame, "m1", "FormationViolation"), frame


async def test_a_handler_exception_is_an_internal_error_and_serving_goes_on(
    station: Connect,
) -> None:
    peer, rpc = await station()
    frame = await peer.request([2, "m1", "Reset", {"type": "Hard"}])
    assert is_callerror(frame, "m1", "InternalError"), frame
    assert not rpc.closed

    frame = await peer.request(
        [2, "m2", "ChangeAvailability", {"connectorId": 1, "type": "Operative"}]
    )
    assert frame == [3, "m2", {"status": "Accepted"}]


async def test_a_handler_answer_that_breaks_the_schema_is_an_internal_error(
    station: Connect,
) -> None:
    peer, _ = await station()
    frame = await peer.request([2, "m1", "ClearCache", {}])
    assert is_callerror(frame, "m1", "InternalError"), frame


async def test_a_handler_that_itself_calls_the_csms_does_not_deadlock(station: Connect) -> None:
    rpcs: list[Rpc] = []

    async def handler(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        answer = await rpcs[0].call("Heartbeat", {}, timeout=WAIT_S)
        assert answer == {"currentTime": "2025-01-01T10:00:00Z"}
        return {"status": "Accepted"}

    peer, rpc = await station(handler=handler, supported={"TriggerMessage"})
    rpcs.append(rpc)

    await peer.send([2, "m1", "TriggerMessage", {"requestedMessage": "Heartbeat"}])
    heartbeat = await peer.recv()
    assert heartbeat[0] == 2 and heartbeat[2:] == ["Heartbeat", {}]
    await peer.send([3, heartbeat[1], {"currentTime": "2025-01-01T10:00:00Z"}])
    assert await peer.recv() == [3, "m1", {"status": "Accepted"}]


async def test_a_string_longer_than_its_schema_allows_is_a_type_constraint_violation(
    station: Connect,
) -> None:
    peer, _ = await station(supported={"ChangeAvailability", "DataTransfer"})
    payload = {"vendorId": "v" * 256}  # maxLength 255
    frame = await peer.request([2, "m1", "DataTransfer", payload])
    assert is_callerror(frame, "m1", "TypeConstraintViolation"), frame


def charging_profile(limit: float) -> dict[str, Any]:
    schedule = {"chargingRateUnit": "A", "chargingSchedulePeriod": [
        {"startPeriod": 0, "limit": limit}]}  # fmt: skip
    return {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative", "chargingSchedule": schedule,
    }}  # fmt: skip


async def test_a_limit_in_tenths_of_an_ampere_passes_the_multiple_of_0_1_rule(
    station: Connect,
) -> None:
    async def accept(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    peer, _ = await station(handler=accept, supported={"SetChargingProfile"})
    frame = await peer.request([2, "m1", "SetChargingProfile", charging_profile(11.1)])
    assert frame == [3, "m1", {"status": "Accepted"}]
    frame = await peer.request([2, "m2", "SetChargingProfile", charging_profile(11.15)])
    assert is_callerror(frame, "m2", "PropertyConstraintViolation"), frame
    assert "11.15 is not a multiple of 0.1" in frame[3]


# --- making CALLs ------------------------------------------------------------------------------


async def test_call_returns_the_callresult_payload(station: Connect) -> None:
    peer, rpc = await station()
    call = asyncio.create_task(rpc.call("Heartbeat", {}, timeout=WAIT_S))
    frame = await peer.recv()
    assert frame[0] == 2 and frame[2:] == ["Heartbeat", {}]
    await peer.send([3, frame[1], {"currentTime": "2025-01-01T10:00:00Z"}])
    assert await call == {"currentTime": "2025-01-01T10:00:00Z"}


async def test_a_callerror_answer_raises_call_error_with_its_code(station: Connect) -> None:
    peer, rpc = await station()
    call = asyncio.create_task(rpc.call("Heartbeat", {}, timeout=WAIT_S))
    frame = await peer.recv()
    await peer.send([4, frame[1], "InternalError", "database down", {"retry": True}])
    with pytest.raises(CallError) as caught:
        await call
    assert (caught.value.code, caught.value.description, caught.value.details) == (
        "InternalError",
        "database down",
        {"retry": True},
    )


async def test_a_callresult_that_breaks_the_response_schema_is_an_invalid_response(
    station: Connect,
) -> None:
    peer, rpc = await station()
    call = asyncio.create_task(rpc.call("Heartbeat", {}, timeout=WAIT_S))
    frame = await peer.recv()
    await peer.send([3, frame[1], {}])  # currentTime is required
    with pytest.raises(CallError) as caught:
        await call
    assert caught.value.code == "InvalidResponse"


async def test_only_one_call_is_outstanding_at_a_time(station: Connect) -> None:
    peer, rpc = await station()
    first = asyncio.create_task(rpc.call("Heartbeat", {}, timeout=WAIT_S))
    second = asyncio.create_task(rpc.call("StatusNotification", STATUS, timeout=WAIT_S))

    frame = await peer.recv()
    assert frame[2] == "Heartbeat"
    await peer.expect_silence()
    await peer.send([3, frame[1], {"currentTime": "2025-01-01T10:00:00Z"}])
    await first

    frame = await peer.recv()
    assert frame[2:] == ["StatusNotification", STATUS]
    await peer.send([3, frame[1], {}])
    assert await second == {}


async def test_a_call_without_an_answer_times_out(station: Connect) -> None:
    peer, rpc = await station()
    with pytest.raises(TimeoutError):
        await rpc.call("Heartbeat", {}, timeout=0.2)
    assert (await peer.recv())[2] == "Heartbeat"


async def test_when_the_peer_closes_a_waiting_call_raises_connection_lost_at_once(
    station: Connect,
) -> None:
    peer, rpc = await station()
    call = asyncio.create_task(rpc.call("Heartbeat", {}, timeout=30))
    await peer.recv()

    began = time.monotonic()
    assert peer.ws is not None
    await peer.ws.close()
    with pytest.raises(ConnectionLost):
        await asyncio.wait_for(call, WAIT_S)
    assert time.monotonic() - began < 1.0
    assert rpc.closed


async def test_a_call_after_the_connection_closed_raises_connection_lost(
    station: Connect,
) -> None:
    peer, rpc = await station()
    assert peer.ws is not None
    await peer.ws.close()
    for _ in range(100):
        if rpc.closed:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(ConnectionLost):
        await rpc.call("Heartbeat", {}, timeout=WAIT_S)


# --- OCPP-J 2.0.1 codes ------------------------------------------------------------------------


async def ocpp201_station(station: Connect) -> Peer:
    async def handler(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    peer, _ = await station(version=OCPP201, handler=handler, supported={"ChangeAvailability"})
    return peer


async def test_ocpp201_a_valid_call_is_answered(station: Connect) -> None:
    peer = await ocpp201_station(station)
    frame = await peer.request([2, "m1", "ChangeAvailability", {"operationalStatus": "Operative"}])
    assert frame == [3, "m1", {"status": "Accepted"}]


async def test_ocpp201_an_unknown_message_type_is_message_type_not_supported(
    station: Connect,
) -> None:
    peer = await ocpp201_station(station)
    frame = await peer.request([7, "m1", "Heartbeat", {}])
    assert is_callerror(frame, "m1", "MessageTypeNotSupported"), frame


async def test_ocpp201_an_extra_property_is_a_format_violation(station: Connect) -> None:
    peer = await ocpp201_station(station)
    payload = {"operationalStatus": "Operative", "colour": "red"}
    frame = await peer.request([2, "m1", "ChangeAvailability", payload])
    assert is_callerror(frame, "m1", "FormatViolation"), frame


async def test_ocpp201_a_missing_required_field_is_an_occurrence_constraint_violation(
    station: Connect,
) -> None:
    peer = await ocpp201_station(station)
    frame = await peer.request([2, "m1", "ChangeAvailability", {}])
    assert is_callerror(frame, "m1", "OccurrenceConstraintViolation"), frame


async def test_ocpp201_a_call_with_two_items_is_an_rpc_framework_error(station: Connect) -> None:
    peer = await ocpp201_station(station)
    frame = await peer.request([2, "m1"])
    assert is_callerror(frame, "m1", "RpcFrameworkError"), frame
