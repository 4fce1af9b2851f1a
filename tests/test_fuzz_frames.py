"""Fuzzing the OCPP-J frames a CSMS sends to the real daemon.

One daemon (a subprocess, simulated hardware) per module, connected to the in-process
`Csms`, which runs on an event loop in a background thread; hypothesis (synchronous) sends
each generated frame with `Csms.send_raw` and then a probe (a valid GetConfiguration).

The property, per frame:
- a frame whose message id is readable (a JSON array whose second item is a string) and
  that is not a well-formed CALLRESULT/CALLERROR gets exactly one answer with that id:
  a CALLRESULT valid against the action's response schema (checked with the `ocpp`
  package's validator), or a CALLERROR [4, id, code, description, {details}] with one of
  the OCPP-J 1.6 codes;
- a frame without a readable id, and a CALLRESULT/CALLERROR the station is not waiting
  for, gets nothing;
- the station answers the probe afterwards, on the same connection, and the CSMS records
  no protocol violation.
Valid payloads are sent only for harmless actions (GetConfiguration, ChangeConfiguration
of unknown keys, DataTransfer, ClearCache); a random payload that happens to be valid for
any other action is not sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from ocpp.messages import get_validator

from chargerd.ctl import request
from chargerd.ocpp16 import keys as ocpp_keys
from chargerd.ocpp16.adapter import SUPPORTED
from chargerd.rpc import OCPP16
from devcsms import Csms

ROOT = Path(__file__).resolve().parents[1]
STATION_ID = "CP-FUZZ"
WAIT_S = 10.0
CODES_16 = {
    "NotImplemented",
    "NotSupported",
    "InternalError",
    "ProtocolError",
    "SecurityError",
    "FormationViolation",
    "PropertyConstraintViolation",
    "OccurenceConstraintViolation",
    "TypeConstraintViolation",
    "GenericError",
}
ACTIONS_16 = sorted(OCPP16.actions)
HARMLESS = (
    "GetConfiguration",
    "ChangeConfiguration",
    "DataTransfer",
    "ClearCache",
    "GetLocalListVersion",
)
# Actions the station carries out: a valid payload of one of these is never sent.
DANGEROUS = SUPPORTED - set(HARMLESS)
PROBE = {"key": ["HeartbeatInterval"]}
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

T = TypeVar("T")


# --------------------------------------------------------------------------- the harness


class Harness:
    """The CSMS on a loop in a thread; the daemon as a subprocess connected to it."""

    def __init__(self, workdir: Path, sock_dir: Path) -> None:
        self.workdir = workdir
        self.socket = sock_dir / "ctl.sock"
        self.log_path = workdir / "chargerd.log"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.csms = Csms(close_timeout=0.5)
        self.proc: subprocess.Popen | None = None

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 3 * WAIT_S) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def start(self) -> None:
        self.thread.start()
        self.run(self.csms.start())
        config = {
            "station": {"id": STATION_ID, "vendor": "fuzz", "model": "fuzz"},
            "csms": {
                "url": self.csms.url,
                "ocpp_version": "1.6",
                "call_timeout_s": 2,
                "reconnect_min_s": 0.05,
                "reconnect_max_s": 0.3,
            },
            "storage": {"dir": str(self.workdir / "state")},
            "control": {"socket": str(self.socket)},
            "hal": {"driver": "sim"},
            "connectors": [{"id": 1}, {"id": 2}],
            "ocpp": {"HeartbeatInterval": 300},
            "log": {"level": "info"},
        }
        path = self.workdir / "station.yaml"
        path.write_text(yaml.safe_dump(config))
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "chargerd", "run", "--config", str(path)],
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)},
            )
        self.run(self.csms.wait_connected(STATION_ID, WAIT_S))
        self.run(self.csms.wait_for("BootNotification", WAIT_S))
        deadline = time.monotonic() + WAIT_S
        while not self._registered():  # until the daemon has its BootNotification answer
            assert time.monotonic() < deadline, f"chargerd did not boot:\n{self.log()}"
            time.sleep(0.05)
        self.run(self.wait_quiet())

    def _registered(self) -> bool:
        try:
            answer = request(str(self.socket), {"cmd": "status"}, timeout=1)
        except (OSError, ValueError):
            return False
        return bool(answer.get("ok")) and answer["status"].get("registration") == "Accepted"

    async def wait_quiet(self) -> None:
        """Until the boot-time StatusNotifications are through."""
        seen: set[int] = set()
        deadline = time.monotonic() + WAIT_S
        while seen != {0, 1, 2} and time.monotonic() < deadline:
            seen = {p["connectorId"] for p in self.csms.ledger.received("StatusNotification")}
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)

    def stop(self) -> int | None:
        code = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(WAIT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.run(self.csms.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT_S)
        return code

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def connects(self) -> int:
        return sum(
            1
            for e in self.csms.ledger.entries
            if e.kind == "connect" and e.station_id == STATION_ID
        )

    # ---- one exchange

    def exchange(self, data: str | bytes, expect: str, message_id: str | None) -> list | None:
        """Send `data`, then the probe; check what came back; the answer to `data`."""
        return self.run(self._exchange(data, expect, message_id))

    async def _exchange(self, data: str | bytes, expect: str, message_id: str | None):
        csms, ledger = self.csms, self.csms.ledger
        await csms.wait_connected(STATION_ID, WAIT_S)
        mark, violations = len(ledger.entries), len(ledger.violations)
        wait = {"answer": WAIT_S, "maybe": 0.2}.get(expect, 0.05)
        if isinstance(data, bytes):  # a binary frame: send_raw takes text only
            await csms._session(STATION_ID).ws.send(data)
            reply = None
        else:
            reply = await csms.send_raw(STATION_ID, data, timeout=wait)
        probe_id = f"probe-{uuid.uuid4()}"
        probe = await csms.send_raw(
            STATION_ID, json.dumps([2, probe_id, "GetConfiguration", PROBE]), timeout=WAIT_S
        )
        if expect == "maybe" and reply is None and probe is not None and probe[1] == message_id:
            reply = probe  # a refusal slower than `wait`: the probe's answer comes next
            entry = await csms.wait_for(
                lambda e: e.direction == "in" and e.unique_id == probe_id, WAIT_S, after=mark
            )
            probe = [3, probe_id, entry.payload] if entry.kind == "result" else None
        shown = repr(data[:300])
        assert probe is not None and probe[:2] == [3, probe_id], (
            f"after {shown} the probe got {probe!r} (expect {expect})\n{self.recent(mark)}"
        )
        assert probe[2]["configurationKey"][0]["key"] == "HeartbeatInterval", probe
        answers = [
            e
            for e in ledger.entries[mark:]
            if e.direction == "in" and e.kind in ("result", "error", "malformed")
        ]
        ids = [e.unique_id for e in answers]
        allowed = {probe_id} if expect == "nothing" else {probe_id, message_id}
        assert set(ids) <= allowed and len(ids) == len(set(ids)), (
            f"{shown}: the station sent {ids}, allowed: one each of {allowed}\n{self.recent(mark)}"
        )
        assert ledger.violations[violations:] == [], ledger.violations[violations:]
        return reply

    def recent(self, mark: int) -> str:
        return "\n".join(f"  {e}" for e in self.csms.ledger.entries[mark:][-10:])


@pytest.fixture(scope="module")
def station() -> Iterator[Harness]:
    workdir = Path(tempfile.mkdtemp(prefix="fuzz-frames-"))
    sock_dir = Path(tempfile.mkdtemp(prefix="ff-", dir="/tmp"))
    harness = Harness(workdir, sock_dir)
    try:
        harness.start()
        yield harness
    finally:
        code = harness.stop()
        log = harness.log()
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(sock_dir, ignore_errors=True)
    assert code == 0, f"chargerd exited with {code} after SIGTERM:\n{log[-4000:]}"


# --------------------------------------------------------------------------- the oracle


def expectation(data: str | bytes) -> tuple[str, str | None]:
    """("answer" | "maybe" | "nothing", the readable message id or None)."""
    try:
        frame = json.loads(data)
    except (ValueError, RecursionError):
        return "nothing", None
    if not (isinstance(frame, list) and len(frame) >= 2 and isinstance(frame[1], str)):
        return "nothing", None
    kind = frame[0]
    if type(kind) is int and kind in (3, 4):
        well_formed = len(frame) == 3 if kind == 3 else len(frame) in (4, 5)
        return ("nothing" if well_formed else "maybe"), frame[1]
    if type(kind) is not int:  # "2", 2.0, null: see test_a_non_integer_message_type_...
        return "maybe", frame[1]
    return "answer", frame[1]


def check_answer(data: str | bytes, reply: list | None, expect: str, message_id: str | None):
    if expect == "nothing" or (expect == "maybe" and reply is None):
        assert reply is None, f"{data!r} was answered with {reply!r}"
        return
    assert reply is not None, f"{data!r} (message id {message_id!r}) got no answer"
    assert reply[1] == message_id, reply
    if reply[0] == 3:
        assert expect == "answer", f"{data!r} was answered with a CALLRESULT {reply!r}"
        frame = json.loads(data)
        action = frame[2]
        assert len(reply) == 3 and action in OCPP16.actions, reply
        errors = list(get_validator(3, action, "1.6").iter_errors(reply[2]))
        assert not errors, f"{action} answer {reply[2]!r} breaks its schema: {errors[0].message}"
    else:
        assert reply[0] == 4 and len(reply) == 5, f"{data!r}: not a CALLERROR: {reply!r}"
        _, _, code, description, details = reply
        assert code in CODES_16, f"{data!r}: CALLERROR code {code!r} is not an OCPP-J 1.6 code"
        assert isinstance(description, str) and isinstance(details, dict), reply


def send_and_check(station: Harness, data: str | bytes) -> list | None:
    expect, message_id = expectation(data)
    reply = station.exchange(data, expect, message_id)
    check_answer(data, reply, expect, message_id)
    got = "nothing" if reply is None else reply[2] if reply[0] == 4 else "CALLRESULT"
    event(f"expected {expect}; got {got}")
    return reply


# --------------------------------------------------------------------------- strategies

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=25,
)
message_ids = st.text(min_size=1, max_size=36) | st.text(max_size=80)
odd_ids = st.none() | st.integers() | st.floats() | st.lists(st.integers(), max_size=2)
actions = st.sampled_from(ACTIONS_16) | st.text(max_size=30)
type_ids = st.sampled_from([2, 3, 4, 5, 0, -1, 99, 2.0, "2", True, None]) | st.integers()


def _valid_request(action: Any, payload: Any) -> bool:
    return (
        isinstance(action, str)
        and action in OCPP16.actions
        and not list(get_validator(2, action, "1.6").iter_errors(payload))
    )


def _harmless_frame(frame: list) -> bool:
    """No valid Reset, RemoteStart..., and no ChangeConfiguration of a real key."""
    if len(frame) < 4 or not isinstance(frame[2], str):
        return True
    action, payload = frame[2], frame[3]
    if not _valid_request(action, payload):
        return True
    if action == "ChangeConfiguration":
        return ocpp_keys.find(payload["key"]) is None
    # Feature blocks answer more actions than the adapter's own list (UpdateFirmware,
    # SetChargingProfile, ...): a valid request of any of them may act, so none is sent.
    return action in HARMLESS


def _text(frame: Any) -> str:
    return json.dumps(frame, allow_nan=True)


unknown_keys = st.text(max_size=50).filter(lambda k: ocpp_keys.find(k) is None)
VALID: dict[str, st.SearchStrategy[dict]] = {
    "GetConfiguration": st.fixed_dictionaries(
        {},
        optional={
            "key": st.lists(
                st.sampled_from([k.name for k in ocpp_keys.KEYS]) | st.text(max_size=50),
                max_size=12,
            )
        },
    ),
    "ChangeConfiguration": st.fixed_dictionaries(
        {"key": unknown_keys, "value": st.text(max_size=500)}
    ),
    "DataTransfer": st.fixed_dictionaries(
        {"vendorId": st.text(max_size=255)},
        optional={"messageId": st.text(max_size=50), "data": st.text(max_size=200)},
    ),
    "ClearCache": st.just({}),
    "GetLocalListVersion": st.just({}),
}
LIMITS = {"key": 50, "value": 500, "vendorId": 255, "messageId": 50, "idTag": 20}
# Valid payloads of the actions the station carries out: only sent broken.
ACTED_ON: dict[str, st.SearchStrategy[dict]] = {
    "Reset": st.fixed_dictionaries({"type": st.sampled_from(["Hard", "Soft"])}),
    "RemoteStartTransaction": st.fixed_dictionaries(
        {"idTag": st.text(max_size=20)}, optional={"connectorId": st.integers(0, 3)}
    ),
    "RemoteStopTransaction": st.fixed_dictionaries({"transactionId": st.integers(-5, 99)}),
    "UnlockConnector": st.fixed_dictionaries({"connectorId": st.integers(0, 3)}),
    "ReserveNow": st.fixed_dictionaries(
        {
            "connectorId": st.integers(0, 3),
            "expiryDate": st.just("2030-01-01T00:00:00Z"),
            "idTag": st.text(max_size=20),
            "reservationId": st.integers(0, 99),
        },
        optional={"parentIdTag": st.text(max_size=20)},
    ),
    "CancelReservation": st.fixed_dictionaries({"reservationId": st.integers(-5, 99)}),
    "SendLocalList": st.fixed_dictionaries(
        {
            "listVersion": st.integers(-5, 99),
            "updateType": st.sampled_from(["Differential", "Full"]),
        },
        optional={
            "localAuthorizationList": st.lists(
                st.fixed_dictionaries(
                    {"idTag": st.text(max_size=20)},
                    optional={"idTagInfo": st.just({"status": "Accepted"})},
                ),
                max_size=5,
            )
        },
    ),
    "TriggerMessage": st.fixed_dictionaries(
        {
            "requestedMessage": st.sampled_from(
                [
                    "BootNotification",
                    "DiagnosticsStatusNotification",
                    "FirmwareStatusNotification",
                    "Heartbeat",
                    "MeterValues",
                    "StatusNotification",
                ]
            )
        },
        optional={"connectorId": st.integers(0, 3)},
    ),
    "ChangeAvailability": st.fixed_dictionaries(
        {
            "connectorId": st.integers(0, 3),
            "type": st.sampled_from(["Inoperative", "Operative"]),
        }
    ),
}
assert set(ACTED_ON) == DANGEROUS, DANGEROUS
SCHEMA_CODES = {
    "FormationViolation",
    "PropertyConstraintViolation",
    "OccurenceConstraintViolation",
    "TypeConstraintViolation",
    "ProtocolError",
}


@st.composite
def mutated_calls(draw: st.DrawFn) -> str:
    """[2, id, action, a valid payload, maybe mutated]: valid only for harmless actions."""
    action = draw(st.sampled_from(HARMLESS + tuple(sorted(ACTED_ON))))
    payload: Any = dict(draw({**VALID, **ACTED_ON}[action]))
    mutations = ["drop", "add", "retype", "long", "enum", "whole", "list"]
    if action in HARMLESS:
        mutations.append("none")
    how = draw(st.sampled_from(mutations))
    keys = sorted(payload)
    if how == "drop" and keys:
        del payload[draw(st.sampled_from(keys))]
    elif how == "add":
        payload[draw(st.text(max_size=12))] = draw(json_values)
    elif how == "retype" and keys:
        payload[draw(st.sampled_from(keys))] = draw(json_values)
    elif how == "long" and keys:
        key = draw(st.sampled_from(keys))
        limit = LIMITS.get(key, 50)
        payload[key] = "x" * draw(st.integers(limit + 1, limit + 20))
        if key == "key" and action == "GetConfiguration":
            payload[key] = ["k" * (limit + 1)]
    elif how == "enum" and keys:
        payload[draw(st.sampled_from(keys))] = draw(st.sampled_from(["", "hard", "Medium", "x"]))
    elif how == "whole":
        payload = draw(json_values)
    elif how == "list":
        payload = [payload]
    frame = [2, draw(message_ids), action, payload]
    if action == "ChangeConfiguration" and isinstance(payload, dict):
        key = payload.get("key")
        if isinstance(key, str) and ocpp_keys.find(key) is not None:
            payload["key"] = "Fuzz" + key  # never change a real key
    assume(action in HARMLESS or not _valid_request(action, payload))
    return _text(frame)


random_calls = st.builds(lambda i, a, p: [2, i, a, p], message_ids, actions, json_values).filter(
    _harmless_frame
)
odd_frames = st.builds(
    lambda t, i, rest: [t, i, *rest],
    type_ids,
    message_ids | odd_ids,
    st.lists(json_values, max_size=5),
).filter(_harmless_frame)
answers = st.builds(lambda i, p: [3, i, p], message_ids, json_values) | st.builds(
    lambda i, c, d, x: [4, i, c, d, x],
    message_ids,
    st.sampled_from(sorted(CODES_16)) | st.text(max_size=20),
    st.text(max_size=40),
    json_values,
)
frames_text = st.one_of(
    st.text(max_size=200),
    json_values.map(_text),
    random_calls.map(_text),
    random_calls.map(_text),
    random_calls.map(_text),
    odd_frames.map(_text),
    odd_frames.map(_text),
    answers.map(_text),
    st.lists(json_values, max_size=6).filter(_harmless_frame).map(_text),
)


# --------------------------------------------------------------------------- the tests


@FUZZ
@given(data=frames_text)
def test_any_text_frame_is_answered_by_the_rules(station: Harness, data: str) -> None:
    send_and_check(station, data)


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_binary_frames_get_nothing(station: Harness, data: bytes) -> None:
    assume(expectation(data)[0] == "nothing")
    send_and_check(station, data)


@FUZZ
@given(data=mutated_calls())
def test_harmless_calls_with_mutated_payloads_get_a_valid_answer(
    station: Harness, data: str
) -> None:
    reply = send_and_check(station, data)
    frame = json.loads(data)
    assert reply is not None
    if _valid_request(frame[2], frame[3]):
        assert reply[0] == 3, f"a valid {frame[2]} was refused: {reply!r}"
    else:
        assert reply[0] == 4, f"an invalid {frame[2]} was taken: {reply!r}"
        assert reply[2] in SCHEMA_CODES, f"{data!r}: a schema violation answered {reply!r}"


def test_the_station_kept_its_connection_and_logged_no_crash(station: Harness) -> None:
    assert station.connects() == 1, "the station reconnected during the fuzzing"
    log = station.log()
    assert "Traceback" not in log, log[-4000:]
    assert not re.search(r"handling \S+ failed|our answer to \S+ breaks the schema", log), log


# --------------------------------------------------------------------------- found by fuzzing
# Kept last: the first one drops the connection (the station reconnects).


def test_a_non_integer_message_type_id_with_a_readable_id_is_refused(station: Harness) -> None:
    """A readable message id deserves an answer (chargerd.rpc's own rule for malformed
    frames); chargerd drops ["2", id, ...] and [2.0, id, ...] without a word."""
    for kind in ("2", 2.0, None):
        message_id = f"odd-{uuid.uuid4()}"
        data = json.dumps([kind, message_id, "GetConfiguration", {}])
        reply = station.exchange(data, "maybe", message_id)
        assert reply is not None and reply[:2] == [4, message_id], (kind, reply)
        assert reply[2] in ("FormationViolation", "ProtocolError"), reply


def test_a_deeply_nested_frame_is_dropped_without_losing_the_connection(station: Harness) -> None:
    """json.loads raises RecursionError (not ValueError) at about 1000 levels: Rpc._receive
    does not catch it, Rpc.serve dies and the link reconnects."""
    before = station.connects()
    data = "[" * 5000 + "]" * 5000  # Csms.send_raw itself chokes on it (json.loads)
    station.exchange(data.encode(), "nothing", None)  # sent raw, then a probe is answered
    assert station.connects() == before, "the station dropped its connection"
    assert STATION_ID in station.csms.connected
