"""Fuzzing what devices answer: RAPI lines, Modbus registers, InfyPower CAN payloads.

- `hal.drivers.rapi.parse` raises nothing but FrameError (ChecksumError is one) on any
  bytes, also on lines with a correct checksum around random content;
- a RapiController on a real pty whose peer answers every request with random pieces
  (garbage, replies with random arguments or wrong sequence ids, bad checksums, $AT / $ST /
  $AB notifications, noise without CR, silence) raises nothing but DeviceError, emits only
  well-formed events of its connector, keeps polling, and works again once the peer
  answers properly;
- `RegisterValue.decode` of every shipped meter map returns a finite float or None for
  any register words (ValueError only for a wrong number of words), and `decode(encode(x))`
  gives x back to the register's resolution;
- ModbusMeter read through a real ModbusMeterServer (TCP) whose source returns random
  energies never reports a lower energy than before, nor a non-finite one;
- the InfyPower codecs (hal/drivers/infy_protocol.py) raise nothing but ValueError on
  random payloads.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import tty
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hal.drivers import infy_protocol as infy
from hal.drivers.modbus_bus import ModbusBus
from hal.drivers.modbus_meter import ModbusMeter
from hal.drivers.rapi import RapiController, parse
from hal.drivers.rapi_protocol import ChecksumError, FrameError, checksum, frame
from hal.interfaces import (
    DeviceError,
    FaultCleared,
    FaultCode,
    FaultRaised,
    MeterReading,
    PilotChanged,
    PilotState,
)
from hal.maps.loader import load_meter_map, meter_models
from hal.sim.modbus_meter_server import ModbusMeterServer

FAST = settings(max_examples=400, deadline=None, database=None)
SLOW = settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MODELS = sorted({load_meter_map(m).model for m in meter_models()})


# --------------------------------------------------------------------------- RAPI frames

ARG_ALPHABET = "0123456789ABCDEFabcdefGHZz-+_.x"
rapi_args = st.lists(st.text(ARG_ALPHABET, min_size=1, max_size=6), max_size=4)
rapi_commands = st.sampled_from(["OK", "NK", "AT", "ST", "AB", "GS", "SC", "zz", "0k"]) | st.text(
    ARG_ALPHABET, min_size=1, max_size=3
)


def with_checksum(body: bytes) -> bytes:
    """`body` (which should start with $) with its correct ^CK and CR."""
    return body + f"^{checksum(body):02X}\r".encode()


checksummed = st.builds(
    lambda content: with_checksum(b"$" + content),
    st.binary(max_size=40)
    | st.text(max_size=40).map(lambda t: t.encode("utf-8"))
    | st.builds(
        lambda c, a, s: f"{c} {' '.join(a)}{s}".encode(),
        rapi_commands,
        rapi_args,
        st.sampled_from(["", " :", " :01", " :FE", " :zz", " :-1", " :1_0", " :" + "F" * 80]),
    ),
)


@FAST
@given(line=st.binary(max_size=80) | checksummed | checksummed.map(lambda b: b[:-4] + b"^0G\r"))
def test_parse_raises_only_frame_errors(line: bytes) -> None:
    try:
        parsed = parse(line)
    except FrameError:  # ChecksumError included
        return
    assert len(parsed.command) == 2 and parsed.command.isalnum()
    assert parsed.command == parsed.command.upper()
    assert all(isinstance(a, str) and a and " " not in a for a in parsed.args)
    assert parsed.seq is None or isinstance(parsed.seq, int)


@FAST
@given(command=rapi_commands, args=rapi_args, seq=st.none() | st.integers(1, 0xFE))
def test_frame_then_parse_gives_the_frame_back(command: str, args: list[str], seq: int | None):
    text = " ".join([command, *args])
    try:
        raw = frame(text, seq)
    except ValueError:
        return
    if not (len(command) == 2 and command.isalnum()):  # encodable, but no RAPI command
        with pytest.raises(FrameError):
            parse(raw)
        return
    parsed = parse(raw)
    assert (parsed.command, parsed.args, parsed.seq) == (command.upper(), tuple(args), seq)
    with pytest.raises(ChecksumError):
        parse(raw[:-3] + (b"00" if raw[-3:-1] != b"00" else b"01") + b"\r")


# --------------------------------------------------------------------------- RAPI driver


class Peer:
    """The far end of a pty: answers each request with the next scripted pieces."""

    def __init__(self, script: list[list[tuple[str, Any]]]) -> None:
        self.script = script
        self.requests = 0
        self.well_behaved = False
        self._buffer = bytearray()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # held open: the master never sees a hang-up
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        asyncio.get_running_loop().add_reader(self._master, self._readable)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self._master)
        os.close(self._master)
        os.close(self._slave)

    def write(self, data: bytes) -> None:
        try:
            os.write(self._master, data)
        except BlockingIOError:
            pass  # the driver does not read fast enough: that is line noise too

    def _readable(self) -> None:
        try:
            self._buffer += os.read(self._master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        while (end := self._buffer.find(b"\r")) >= 0:
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            self._answer(line)

    def _answer(self, line: bytes) -> None:
        try:
            request = parse(line[line.rfind(b"$") :])
        except FrameError:
            return
        seq = request.seq
        if self.well_behaved:
            args = {"GS": "02 00 02", "SC": "16"}.get(request.command, "")
            self.write(frame(f"OK {args}".strip(), seq))
            return
        pieces = self.script[self.requests % len(self.script)] if self.script else []
        self.requests += 1
        for kind, value in pieces:
            self.write(self._render(kind, value, seq))

    @staticmethod
    def _render(kind: str, value: Any, seq: int | None) -> bytes:
        text = " ".join(value) if isinstance(value, list) else ""
        if kind in ("OK", "NK"):
            return frame(f"{kind} {text}".strip(), seq)
        if kind == "wrong-seq":
            return frame(f"OK {text}".strip(), (seq or 0) % 0xFE + 1)
        if kind in ("AT", "ST", "AB"):
            return frame(f"{kind} {text}".strip(), None)
        if kind == "bad-checksum":
            good = frame(f"OK {text}".strip(), seq)
            return good[:-3] + (b"00" if good[-3:-1] != b"00" else b"01") + b"\r"
        if kind == "garbage":
            return value + b"\r"
        if kind == "noise":
            return value.replace(b"\r", b"")  # glued to the front of what comes next
        if kind == "long":
            return b"$" + b"A" * 300
        raise AssertionError(kind)


pieces = st.one_of(
    st.tuples(st.sampled_from(["OK", "NK", "wrong-seq", "AT", "ST", "AB", "bad-checksum"]),
              rapi_args),
    st.tuples(st.just("AT"), st.lists(st.sampled_from(["00", "01", "02", "03", "04", "05", "06",
                                                       "0A", "0E", "FE", "FF", "-1"]),
                                      min_size=0, max_size=4)),
    st.tuples(st.sampled_from(["garbage", "noise"]), st.binary(max_size=30)),
    st.tuples(st.just("long"), st.none()),
)  # fmt: skip
scripts = st.lists(st.lists(pieces, max_size=3), min_size=1, max_size=8)
operations = st.lists(
    st.sampled_from(["offer16", "offer0", "close", "open", "lock", "unlock", "GS", "G0"]),
    max_size=6,
)


async def _drive(script: list, ops: list[str]) -> list[Any]:
    loop = asyncio.get_running_loop()
    loop_errors: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
    events: list[Any] = []
    peer = Peer(script)
    controller = RapiController(1, port=peer.port, timeout_s=0.05, poll_interval_s=0.1)
    actions: dict[str, Callable[[], Any]] = {
        "offer16": lambda: controller.offer_current(16),
        "offer0": lambda: controller.offer_current(0),
        "close": lambda: controller.set_contactor(True),
        "open": lambda: controller.set_contactor(False),
        "lock": lambda: controller.set_lock(True),
        "unlock": lambda: controller.set_lock(False),
        "GS": lambda: controller.request("GS"),
        "G0": lambda: controller.request("G0"),
    }
    try:
        await controller.start(events.append)
        for op in ops:
            try:
                await actions[op]()
            except DeviceError:
                pass
        await asyncio.sleep(0.2)  # the poll meets the garbage too
        assert controller._rounds.running, "the poll loop has ended"
        # The controller comes to its senses: the driver must follow.
        peer.well_behaved = True
        async with asyncio.timeout(3):
            while True:
                try:
                    reply = await controller.request("GS")
                    if reply.ok and controller.pilot is PilotState.B:
                        break
                except DeviceError:
                    pass
                await asyncio.sleep(0.05)
    finally:
        await controller.stop()
        peer.close()
    for item in events:
        assert isinstance(item, PilotChanged | FaultRaised | FaultCleared), item
        assert item.connector == 1, item
        if isinstance(item, PilotChanged):
            assert isinstance(item.state, PilotState), item
        elif isinstance(item, FaultRaised):
            assert isinstance(item.code, FaultCode), item
    assert loop_errors == [], loop_errors
    return events


@SLOW
@given(script=scripts, ops=operations)
def test_the_rapi_driver_survives_any_answers(script: list, ops: list[str]) -> None:
    thread_errors: list[Any] = []
    previous = threading.excepthook
    threading.excepthook = thread_errors.append
    try:
        events = asyncio.run(_drive(script, ops))
    finally:
        threading.excepthook = previous
    assert thread_errors == [], thread_errors
    for kind in sorted({type(e).__name__ for e in events}):
        event(f"emitted {kind}")


# --------------------------------------------------------------------------- Modbus registers


def _all_values() -> list[Any]:
    return [v for model in MODELS for v in load_meter_map(model).values.values()]


@FAST
@given(value=st.sampled_from(_all_values()), data=st.data())
def test_decode_of_any_register_words_is_finite_or_none(value: Any, data: st.DataObject) -> None:
    words = data.draw(st.lists(st.integers(0, 0xFFFF), min_size=value.count, max_size=value.count))
    decoded = value.decode(words)
    assert decoded is None or (isinstance(decoded, float) and math.isfinite(decoded)), decoded
    wrong = data.draw(st.integers(0, 6).filter(lambda n: n != value.count))
    with pytest.raises(ValueError):
        value.decode([0] * wrong)


@FAST
@given(value=st.sampled_from(_all_values()), x=st.floats(-1e12, 1e12))
def test_decode_of_encode_gives_the_value_back(value: Any, x: float) -> None:
    decoded = value.decode(value.encode(x))
    if value.type == "float32":
        assert decoded is not None and math.isclose(decoded, x, rel_tol=1e-6, abs_tol=1e-30)
        return
    bits = 16 * value.count
    signed = not value.type.startswith("u")
    low = -(2 ** (bits - 1)) if signed else 0
    high = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    raw = min(max(round(x / value.scale), low), high)
    if (raw % 2**bits) in value.invalid:
        assert decoded is None
    else:
        assert decoded == pytest.approx(raw * value.scale)


energies = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(0, 1e9),
    st.sampled_from([0.0, -1.0, 1e6, 1.5e6, 4.3e9, 1.8e19, 2.0e21]),
)
# A realistic register: mostly small steps up, now and then a glitch.
energy_runs = st.lists(
    st.one_of(st.floats(0, 2000).map(lambda step: ("step", step)),
              energies.map(lambda e: ("glitch", e))),
    min_size=1,
    max_size=12,
)  # fmt: skip


async def _read_through_server(
    model: str, run: list[tuple[str, float]]
) -> tuple[list[float | None], int]:
    """What ModbusMeter.read() reports while the register holds each value of `run` in turn
    (None: DeviceError), and how many glitches it counted."""
    values: list[float] = []
    register = 1000.0
    for kind, number in run:
        if kind == "step":
            register += number
            values.append(register)
        else:
            values.append(number)
    now = {"energy_wh": values[0]}

    def source() -> MeterReading:  # called once per request (a read may take several)
        return MeterReading(energy_wh=now["energy_wh"], power_w=1.0)

    server = ModbusMeterServer("tcp")
    server.add_meter(1, model, source)
    await server.start()
    assert isinstance(server.port, int)
    bus = ModbusBus.for_tcp("127.0.0.1", server.port, timeout_s=1.0)
    meter = ModbusMeter(1, model=model, bus=bus, unit=1)
    readings: list[float | None] = []
    try:
        for value in values:
            now["energy_wh"] = value
            try:
                readings.append((await meter.read()).energy_wh)
            except DeviceError:
                readings.append(None)  # no good energy yet
    finally:
        await bus.close()
        await server.stop()
    return readings, meter.glitches


@SLOW
@given(model=st.sampled_from(MODELS), run=energy_runs)
def test_modbus_meter_energy_never_goes_backwards(model: str, run: list) -> None:
    readings, glitches = asyncio.run(_read_through_server(model, run))
    event(f"{glitches} glitches")
    good = [r for r in readings if r is not None]
    assert all(math.isfinite(r) for r in good), readings
    assert good == sorted(good), f"energy went backwards: {readings}"
    first_good = next((i for i, r in enumerate(readings) if r is not None), len(readings))
    assert all(r is not None for r in readings[first_good:]), readings


# --------------------------------------------------------------------------- InfyPower

payloads = st.binary(min_size=8, max_size=8)
DECODERS = [
    infy.decode_module_count,
    infy.decode_output,
    infy.decode_capabilities,
    infy.decode_switch,
    infy.decode_setpoint,
    infy.decode_status,
]


@FAST
@given(data=payloads | st.binary(max_size=16), decoder=st.sampled_from(DECODERS))
def test_infy_decoders_raise_only_value_error(data: bytes, decoder: Callable[[bytes], Any]):
    try:
        decoder(data)
    except ValueError:
        assert len(data) != 8 or decoder is infy.decode_switch


@FAST
@given(data=payloads)
def test_infy_payloads_round_trip(data: bytes) -> None:
    bits = infy.decode_status(data)
    assert infy.decode_status(infy.encode_status(bits)) == bits
    assert infy.encode_setpoint(*infy.decode_setpoint(data)) == data
    caps = infy.decode_capabilities(data)
    assert infy.encode_capabilities(caps) == data
    assert infy.decode_module_count(data) == data[2]
    voltage, current = infy.decode_output(data)
    if math.isfinite(voltage) and math.isfinite(current):
        assert infy.decode_output(infy.encode_output(voltage, current)) == (voltage, current)


@FAST
@given(can_id=st.integers(-(2**32), 2**32))
def test_infy_ids_unpack_or_raise_value_error(can_id: int) -> None:
    try:
        fields = infy.unpack_id(can_id)
    except ValueError:
        assert not 0 <= can_id < 1 << 29
        return
    assert infy.pack_id(**fields._asdict()) == can_id


@FAST
@given(
    total=st.floats(-10, 1e4),
    limits=st.lists(st.floats(0, 1e3), min_size=1, max_size=8),
)
def test_split_current_respects_every_limit(total: float, limits: list[float]) -> None:
    shares = infy.split_current(total, limits)
    assert all(0 <= s <= limit + 1e-9 for s, limit in zip(shares, limits, strict=True))
    assert sum(shares) <= max(0.0, total) + 1e-6
    assert sum(shares) == pytest.approx(min(max(0.0, total), sum(limits)), abs=1e-6)


# --------------------------------------------------------------------------- found by fuzzing
