"""The development CSMS (devcsms), driven by a hand-written raw OCPP-J client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.headers import build_authorization_basic

from devcsms import CallErrorReceived, Csms
from devcsms.cli import main

REPO = Path(__file__).resolve().parent.parent
TS = "2025-01-01T10:00:00Z"
BOOT = {"chargePointVendor": "chargerd", "chargePointModel": "sim"}


class RawStation:
    """A minimal station: JSON frames by hand over a websockets client."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._n = 0

    async def send_call(self, action: str, payload: dict) -> str:
        self._n += 1
        uid = f"msg-{self._n}"
        await self.ws.send(json.dumps([2, uid, action, payload]))
        return uid

    async def recv(self, timeout: float = 0.5) -> list:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def request(self, action: str, payload: dict, timeout: float = 0.5) -> list:
        """Send a CALL and return its CALLRESULT/CALLERROR frame."""
        uid = await self.send_call(action, payload)
        while True:
            frame = await self.recv(timeout)
            if frame[0] in (3, 4) and frame[1] == uid:
                return frame

    async def boot(self) -> dict:
        frame = await self.request("BootNotification", BOOT)
        assert frame[0] == 3, frame
        return frame[2]

    async def start_tx(self, connector: int = 1, tag: str = "TAG1", meter: int = 1000) -> dict:
        frame = await self.request(
            "StartTransaction",
            {"connectorId": connector, "idTag": tag, "meterStart": meter, "timestamp": TS},
        )
        assert frame[0] == 3, frame
        return frame[2]


@contextlib.asynccontextmanager
async def station(csms: Csms, station_id: str = "CP-1", subprotocols=("ocpp1.6",), **kwargs):
    async with connect(
        f"{csms.url}/{station_id}",
        subprotocols=list(subprotocols) if subprotocols is not None else None,
        open_timeout=1,
        close_timeout=0.2,
        **kwargs,
    ) as ws:
        if ws.subprotocol:
            await csms.wait_connected(station_id, timeout=0.5)
        yield RawStation(ws)


@pytest.fixture
async def csms():
    server = Csms(close_timeout=0.2)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_boot_is_recorded_and_answered(csms: Csms):
    csms.heartbeat_interval = 42
    seen = []
    csms.on_message = lambda *args: seen.append(args)
    async with station(csms) as st:
        answer = await st.boot()
    assert answer["status"] == "Accepted" and answer["interval"] == 42
    assert answer["currentTime"].endswith("Z")
    assert csms.ledger.boot_count == {"CP-1": 1}
    assert csms.ledger.registration["CP-1"] == "Accepted"
    assert csms.ledger.boot_info["CP-1"] == BOOT
    assert csms.url == f"ws://127.0.0.1:{csms.port}/ocpp" and csms.port > 0
    assert seen[0] == ("CP-1", "in", "BootNotification", BOOT)
    assert seen[1][:3] == ("CP-1", "out", "BootNotification")
    assert csms.ledger.actions() == ["BootNotification"]
    kinds = [(e.kind, e.direction) for e in csms.ledger.entries]
    assert kinds[:3] == [("connect", "-"), ("call", "in"), ("result", "out")]
    assert csms.handshakes["CP-1"].subprotocol == "ocpp1.6"
    assert not csms.ledger.violations


async def test_boot_pending_uses_boot_interval_and_flags_other_messages(csms: Csms):
    csms.boot_status, csms.boot_interval = "Pending", 7
    async with station(csms) as st:
        answer = await st.boot()
        assert (answer["status"], answer["interval"]) == ("Pending", 7)
        await st.request("Heartbeat", {})
        assert any("Pending" in v for v in csms.ledger.violations)
        # asked for by TriggerMessage: allowed
        violations = len(csms.ledger.violations)
        reply = asyncio.create_task(
            csms.call("CP-1", "TriggerMessage", {"requestedMessage": "StatusNotification"}, 0.5)
        )
        frame = await st.recv()
        await st.ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
        assert await reply == {"status": "Accepted"}
        status = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
        assert (await st.request("StatusNotification", status))[0] == 3
        assert len(csms.ledger.violations) == violations


async def test_transactions_get_ids_1_2_and_stop_is_recorded(csms: Csms):
    csms.auth = {"BAD": "Blocked"}
    async with station(csms) as st:
        await st.boot()
        status = {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}
        assert (await st.request("StatusNotification", status))[0] == 3
        first = await st.start_tx(1, "TAG1", 1000)
        second = await st.start_tx(2, "BAD", 50)
        assert first == {"transactionId": 1, "idTagInfo": {"status": "Accepted"}}
        assert second == {"transactionId": 2, "idTagInfo": {"status": "Blocked"}}
        meter = {"timestamp": TS, "sampledValue": [{"value": "1500"}]}
        mv = {"connectorId": 1, "transactionId": 1, "meterValue": [meter]}
        assert (await st.request("MeterValues", mv))[0] == 3
        stop = {"transactionId": 1, "meterStop": 2500, "timestamp": TS, "idTag": "TAG1"}
        frame = await st.request("StopTransaction", dict(stop, reason="EVDisconnected"))
        assert frame[2] == {"idTagInfo": {"status": "Accepted"}}
        frame = await st.request("StopTransaction", {"transactionId": 2, **_stop(60)})
        assert frame[2] == {}  # no idTag, no idTagInfo
    tx = csms.ledger.transactions[1]
    assert (tx.station_id, tx.connector_id, tx.id_tag, tx.meter_start) == ("CP-1", 1, "TAG1", 1000)
    assert (tx.meter_stop, tx.stop_reason, tx.stop_timestamp) == (2500, "EVDisconnected", TS)
    assert tx.meter_values == [meter] and tx.start_count == 1 and tx.stopped
    assert csms.ledger.transactions[2].id_tag_status == "Blocked"
    assert csms.ledger.status[("CP-1", 1)] == ("Charging", "NoError")
    assert csms.ledger.active_transactions() == []
    assert not csms.ledger.violations


def _stop(meter: int) -> dict:
    return {"meterStop": meter, "timestamp": TS}


async def test_schema_violation_is_answered_with_callerror_and_recorded(csms: Csms):
    async with station(csms) as st:
        frame = await st.request("StartTransaction", {"connectorId": 1, "idTag": "T"})
        assert frame[0] == 4 and frame[2] == "ProtocolError"  # what ocpp 2.1.0 answers
        frame = await st.request("Heartbeat", {"extra": 1})
        assert frame[0] == 4 and frame[2] == "FormatViolation"
    assert csms.ledger.transactions == {}
    assert len(csms.ledger.violations) == 2
    assert "StartTransaction violates the schema" in csms.ledger.violations[0]
    assert csms.ledger.violations[0].startswith("CP-1: ")


async def test_transaction_violations(csms: Csms):
    async with station(csms) as st:
        await st.boot()
        assert (await st.request("StopTransaction", {"transactionId": 99, **_stop(1)}))[0] == 3
        await st.start_tx(meter=500)
        mv = {"connectorId": 1, "transactionId": 7, "meterValue": [{"timestamp": TS}]}
        mv["meterValue"][0]["sampledValue"] = [{"value": "1"}]
        await st.request("MeterValues", mv)
        await st.request("StopTransaction", {"transactionId": 1, **_stop(400)})
        await st.request("StopTransaction", {"transactionId": 1, **_stop(600)})
        await st.request("MeterValues", dict(mv, transactionId=1))
        await st.request(
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": "10:00"},
        )
    v = "\n".join(csms.ledger.violations)
    assert "StopTransaction for unknown transaction 99" in v
    assert "MeterValues for unknown transaction 7" in v
    assert "meterStop 400 < meterStart 500" in v
    assert "second StopTransaction for transaction 1" in v
    assert "MeterValues for stopped transaction 1" in v
    assert "timestamp='10:00'" in v
    assert len(csms.ledger.violations) == 6
    assert csms.ledger.unknown_stops[0][1]["transactionId"] == 99


async def test_meter_values_re_sent_after_the_stop_are_recognised_not_counted(csms: Csms):
    # after a power cut the station may send again what the CSMS had already confirmed
    async with station(csms) as st:
        await st.boot()
        await st.start_tx(meter=500)
        mv = {"connectorId": 1, "transactionId": 1, "meterValue": [{"timestamp": TS}]}
        mv["meterValue"][0]["sampledValue"] = [{"value": "510"}]
        await st.request("MeterValues", mv)
        await st.request("StopTransaction", {"transactionId": 1, **_stop(600)})
        await st.request("MeterValues", mv)
    assert csms.ledger.violations == []
    assert csms.ledger.transactions[1].meter_values == mv["meterValue"]


async def test_fail_next_error_and_silent(csms: Csms):
    csms.fail_next("Heartbeat", 1, "error")
    csms.fail_next("Heartbeat", 1, "silent")
    async with station(csms) as st:
        frame = await st.request("Heartbeat", {})
        assert frame[0] == 4 and frame[2] == "InternalError"
        uid = await st.send_call("Heartbeat", {})
        with pytest.raises(TimeoutError):
            await st.recv(timeout=0.1)
        frame = await st.request("Heartbeat", {})  # count used up: answered again
        assert frame[0] == 3 and frame[1] != uid
    notes = [e.note for e in csms.ledger.entries if e.kind == "call"]
    assert notes == ["fail_next: error", "fail_next: silent", None]
    assert not csms.ledger.violations
    with pytest.raises(ValueError):
        csms.fail_next("Heartbeat", mode="sometimes")


async def test_drop_answer_retry_gets_same_transaction_id(csms: Csms):
    csms.fail_next("StartTransaction", mode="drop_answer")
    async with station(csms) as st:
        await st.boot()
        payload = {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": TS}
        await st.send_call("StartTransaction", payload)
        with pytest.raises(TimeoutError):
            await st.recv(timeout=0.1)
        assert (await st.start_tx(1, "T", 0))["transactionId"] == 1
        assert (await st.start_tx(1, "T", 0))["transactionId"] == 1  # not a retry: violation
    assert csms.ledger.transactions[1].start_count == 3
    assert len(csms.ledger.transactions) == 1
    assert len(csms.ledger.violations) == 1
    assert "StartTransaction sent twice" in csms.ledger.violations[0]


async def test_call_to_station(csms: Csms):
    async with station(csms) as st:

        async def answer(kind: int, *rest) -> list:
            frame = await st.recv()
            await st.ws.send(json.dumps([kind, frame[1], *rest]))
            return frame

        task = asyncio.create_task(answer(3, {"status": "Accepted"}))
        payload = {"idTag": "X", "connectorId": 1}
        result = await csms.call("CP-1", "RemoteStartTransaction", payload, timeout=0.5)
        assert result == {"status": "Accepted"}
        assert (await task)[2:] == ["RemoteStartTransaction", payload]

        task = asyncio.create_task(answer(4, "NotSupported", "nope", {}))
        with pytest.raises(CallErrorReceived) as err:
            await csms.call("CP-1", "Reset", {"type": "Soft"}, timeout=0.5)
        assert (err.value.code, err.value.description) == ("NotSupported", "nope")
        await task

        task = asyncio.create_task(answer(3, {"status": "Maybe"}))  # schema violation
        with pytest.raises(Exception, match="Maybe"):
            await csms.call("CP-1", "Reset", {"type": "Hard"}, timeout=0.5)
        await task
        assert "Reset.conf violates the schema" in csms.ledger.violations[-1]

        with pytest.raises(TimeoutError, match="did not answer"):
            await csms.call("CP-1", "ClearCache", {}, timeout=0.1)
    assert csms.ledger.sent() == [payload, {"type": "Soft"}, {"type": "Hard"}, {}]
    await csms.wait_for(lambda e: e.kind == "disconnect", timeout=0.5)
    with pytest.raises(ConnectionError, match="not connected"):
        await csms.call("CP-1", "ClearCache", {})


async def test_call_fails_at_once_when_the_station_disconnects(csms: Csms):
    async with station(csms) as st:
        task = asyncio.create_task(csms.call("CP-1", "ClearCache", {}, timeout=5))
        await st.recv()
        await st.ws.close()
        with pytest.raises(ConnectionError, match="disconnected"):
            await asyncio.wait_for(task, 0.5)


async def test_send_raw(csms: Csms):
    async with station(csms) as st:

        async def reply() -> None:
            frame = await st.recv()
            assert frame == [2, "raw-1", "Reset", {"type": "Bogus"}]
            await st.ws.send(json.dumps([4, "raw-1", "PropertyConstraintViolation", "", {}]))

        task = asyncio.create_task(reply())
        text = json.dumps([2, "raw-1", "Reset", {"type": "Bogus"}])
        answer = await csms.send_raw("CP-1", text, timeout=0.5)
        await task
        assert answer == [4, "raw-1", "PropertyConstraintViolation", "", {}]
        assert await csms.send_raw("CP-1", "not json", timeout=0.1) is None
    raw = [e for e in csms.ledger.entries if e.kind == "raw"]
    assert [e.payload["text"] for e in raw] == [text, "not json"]
    assert raw[0].action == "Reset"


async def test_malformed_and_unknown_frames_from_station(csms: Csms):
    async with station(csms) as st:
        await st.ws.send("[2, 5")
        await st.ws.send(json.dumps([2, "u1", "Heartbeat"]))  # missing payload
        frame = await st.recv()
        assert frame[:3] == [4, "u1", "ProtocolError"]
        await st.ws.send(json.dumps([2, {"odd": "id"}, "Heartbeat", {}]))
        frame = await st.recv()
        assert frame[:2] == [3, {"odd": "id"}]  # answered, but flagged below
        frame = await st.request("FooBar", {})
        assert frame[2] == "NotImplemented"  # OCPP-J: unknown action
        frame = await st.request("Reset", {"type": "Soft"})
        assert frame[2] == "NotSupported"  # known action, wrong direction
    assert len(csms.ledger.violations) == 5
    assert "unique id {'odd': 'id'} is not a string" in csms.ledger.violations[2]
    assert [e.kind for e in csms.ledger.entries if e.direction == "in"][:2] == [
        "malformed",
        "malformed",
    ]


async def test_basic_auth():
    async with Csms(password="s3cret", close_timeout=0.2) as csms:
        with pytest.raises(InvalidStatus) as err:
            async with station(csms):
                pass
        assert err.value.response.status_code == 401
        assert csms.handshakes["CP-1"].status == 401
        assert csms.handshakes["CP-1"].authorization is None

        wrong = {"Authorization": build_authorization_basic("CP-1", "guess")}
        with pytest.raises(InvalidStatus) as err:
            async with station(csms, additional_headers=wrong):
                pass
        assert err.value.response.status_code == 401
        other = {"Authorization": build_authorization_basic("CP-2", "s3cret")}
        with pytest.raises(InvalidStatus):
            async with station(csms, additional_headers=other):
                pass

        good = {"Authorization": build_authorization_basic("CP-1", "s3cret")}
        async with station(csms, additional_headers=good) as st:
            assert (await st.boot())["status"] == "Accepted"
        hs = csms.handshakes["CP-1"]
        assert (hs.status, hs.username, hs.subprotocol) == (101, "CP-1", "ocpp1.6")
        assert hs.authorization == good["Authorization"]
        rejected = [e for e in csms.ledger.entries if e.kind == "rejected"]
        assert [e.payload["status"] for e in rejected] == [401, 401, 401]


@pytest.mark.parametrize("offered", [("ocpp2.0.1",), None])
async def test_unsupported_subprotocol_is_closed_with_1002(csms: Csms, offered):
    async with station(csms, subprotocols=offered) as st:
        assert st.ws.subprotocol is None
        with pytest.raises(ConnectionClosed) as err:
            await st.recv()
        assert err.value.rcvd.code == 1002
    assert csms.connected == set()
    assert csms.handshakes["CP-1"].offered_subprotocols == list(offered or [])
    assert "no supported subprotocol" in csms.ledger.violations[0]


async def test_stop_and_start_again_on_the_same_port(csms: Csms):
    port = csms.port
    async with station(csms) as st:
        await st.boot()
        await st.start_tx()
        await csms.stop()
        with pytest.raises(ConnectionClosed):
            await st.recv()
    assert csms.connected == set()
    with pytest.raises(OSError):
        async with station(csms):
            pass
    await csms.start()
    assert csms.port == port
    async with station(csms) as st:
        assert (await st.start_tx(2))["transactionId"] == 2  # ledger and counter kept
    assert [e.kind for e in csms.ledger.entries].count("connect") == 2


async def test_disconnect_and_reconnect(csms: Csms):
    async with station(csms) as st:
        await csms.disconnect("CP-1")
        assert csms.connected == set()
        with pytest.raises(ConnectionClosed):
            await st.recv()
    async with station(csms) as st:
        await csms.disconnect("CP-1", abrupt=True)
        assert csms.connected == set()
    disconnects = [e for e in csms.ledger.entries if e.kind == "disconnect"]
    assert disconnects[0].payload["code"] == 1001


async def test_new_connection_replaces_the_old_one(csms: Csms):
    async with station(csms) as old:
        mark = len(csms.ledger.entries)
        async with station(csms) as new:
            await csms.wait_for(lambda e: e.kind == "connect", timeout=0.5, after=mark)
            with pytest.raises(ConnectionClosed):
                await old.recv()
            assert csms.connected == {"CP-1"}
            assert (await new.request("Heartbeat", {}))[0] == 3


async def test_wait_for(csms: Csms):
    async with station(csms) as st:
        waiter = asyncio.create_task(csms.wait_for("Heartbeat", timeout=0.5))
        await st.request("Heartbeat", {})
        entry = await waiter
        assert (entry.action, entry.direction, entry.station_id) == ("Heartbeat", "in", "CP-1")
        with pytest.raises(TimeoutError) as err:
            await csms.wait_for("StartTransaction", timeout=0.05)
        message = str(err.value)
        assert "no received StartTransaction CALL within 0.05 s" in message
        assert "→ Heartbeat" in message and "← Heartbeat.conf" in message
        with pytest.raises(TimeoutError):
            await csms.wait_for("Heartbeat", timeout=0.05, after=entry.index + 1)


async def test_logging_one_line_per_message(csms: Csms, caplog):
    caplog.set_level(logging.INFO, logger="chargerd.csms")
    async with station(csms) as st:
        await st.request("Heartbeat", {})
    lines = [r.getMessage() for r in caplog.records if r.name == "chargerd.csms"]
    assert "CP-1 → Heartbeat {}" in lines
    assert any(line.startswith('CP-1 ← Heartbeat.conf {"currentTime"') for line in lines)


def test_dev_csms_script_starts_and_stops_on_sigterm():
    with subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "dev-csms"), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as proc:
        try:
            line = proc.stderr.readline()
            assert "CSMS listening on ws://127.0.0.1:" in line, line
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=5) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def test_main_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit) as err:
        main(["--tag", "nostatus"])
    assert err.value.code == 2


async def test_abrupt_stop_drops_connections_without_close_frame(csms: Csms):
    async with station(csms) as st:
        await csms.stop(abrupt=True)
        with pytest.raises(ConnectionClosed) as err:
            await st.recv()
        assert err.value.rcvd is None  # no close frame: like a power cut of the CSMS
    assert csms.connected == set() and not csms.running
    with pytest.raises(TimeoutError, match="station 'CP-9' to connect"):
        await csms.wait_connected("CP-9", timeout=0.05)
