"""Modbus meters end to end: the driver against simulated meters on a real wire.

Every test runs pymodbus servers (TCP on 127.0.0.1, or RTU on a pty) holding the shipped
register maps, and reads them through ModbusBus + ModbusMeter, as on a board.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hal.drivers.modbus_bus import ModbusBus, ModbusExceptionResponse, ModbusNoAnswer
from hal.drivers.modbus_meter import ModbusMeter
from hal.interfaces import DeviceError, Meter, MeterReading
from hal.maps import load_meter_map, meter_models
from hal.maps.loader import load_meter_map_file
from hal.sim.controller import SimController
from hal.sim.meter import SimMeter
from hal.sim.modbus_meter_server import ModbusMeterServer

TIMEOUT_S = 0.2

KNOWN = MeterReading(
    energy_wh=123_456.7,
    power_w=7_360.5,
    voltage_v=(230.1, 231.2, 229.3),
    current_a=(10.25, 10.5, 10.75),
    frequency_hz=50.01,
)

ServerFactory = Callable[..., Awaitable[ModbusMeterServer]]


@pytest.fixture
async def servers() -> AsyncIterator[ServerFactory]:
    """Start meter servers: `await servers({unit: (model, source)}, transport=...)`."""
    started: list[ModbusMeterServer] = []

    async def start(
        meters: dict[int, tuple[str, object]], transport: str = "tcp", **kwargs: object
    ) -> ModbusMeterServer:
        server = ModbusMeterServer(transport, **kwargs)  # type: ignore[arg-type]
        for unit, (model, source) in meters.items():
            server.add_meter(unit, model, source)  # type: ignore[arg-type]
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


@pytest.fixture
async def buses() -> AsyncIterator[Callable[[ModbusMeterServer], ModbusBus]]:
    """Buses to servers (one user each), closed at the end of the test."""
    opened: list[ModbusBus] = []

    def bus_to(server: ModbusMeterServer) -> ModbusBus:
        port = server.port
        if isinstance(port, int):
            bus = ModbusBus.for_tcp("127.0.0.1", port, timeout_s=TIMEOUT_S)
        else:
            bus = ModbusBus.for_serial(port, baudrate=9600, timeout_s=TIMEOUT_S)
        opened.append(bus)
        return bus

    yield bus_to
    for bus in opened:
        await bus.close()


def tolerance(model: str, name: str) -> float:
    """Half a step of the register's resolution (floats: their own rounding)."""
    value = load_meter_map(model).values[name]
    return value.scale / 2 if value.type != "float32" else 0.0


def assert_reading(model: str, got: MeterReading, want: MeterReading) -> None:
    def near(name: str, actual: float | None, expected: float) -> None:
        assert actual == pytest.approx(expected, rel=1e-6, abs=tolerance(model, name)), name

    near("energy_import_wh", got.energy_wh, want.energy_wh)
    near("power_w", got.power_w, want.power_w)
    assert len(got.voltage_v) == len(want.voltage_v)
    assert len(got.current_a) == len(want.current_a)
    for n, (v, i) in enumerate(zip(want.voltage_v, want.current_a, strict=True), 1):
        near(f"voltage_l{n}_v", got.voltage_v[n - 1], v)
        near(f"current_l{n}_a", got.current_a[n - 1], i)
    assert want.frequency_hz is not None
    near("frequency_hz", got.frequency_hz, want.frequency_hz)


# --- maps --------------------------------------------------------------------------------


def test_the_four_required_models_are_shipped() -> None:
    assert {"sdm630", "sdm72d", "abb_b23", "em340", "em330", "abb_b24"} <= set(meter_models())


def test_unknown_model_is_a_clear_error_listing_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown meter model 'sdm999'; available: .*sdm630"):
        load_meter_map("sdm999")


async def test_driver_with_unknown_model_fails_at_construction() -> None:
    bus = ModbusBus.for_tcp("127.0.0.1", 1, timeout_s=TIMEOUT_S)
    try:
        with pytest.raises(ValueError, match="available: abb_b23"):
            ModbusMeter(1, model="nope", bus=bus, unit=1)
    finally:
        await bus.close()


def test_server_with_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown meter model 'nope'"):
        ModbusMeterServer("tcp").add_meter(1, "nope", KNOWN)


GOOD_MAP = """\
model: {model}
function: 4
word_order: big
values:
  energy_import_wh: {{address: 0x48, type: float32, scale: 1000}}
"""


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("  energy_export_wh: {address: 0x4A, type: float32}\n", "values.energy_export_wh"),
        ("  power_w: {address: 0x34, type: float}\n", "values.power_w.type"),
        ("  power_w: {address: 0x34, type: float32, scale: 1e3}\n", "values.power_w.scale"),
        ("  power_w: {address: 0x49, type: float32}\n", "values.power_w.address"),
        ("  voltage_l2_v: {address: 0x02, type: float32}\n", "values.voltage_l2_v"),
        ("  power_w: {address: 0x34, type: int16, invalid: 0x1FFFF}\n", "values.power_w.invalid"),
        ("  power_w: {address: 0x34, type: float32, offset: 3}\n", "values.power_w.offset"),
    ],
)
def test_malformed_map_names_the_file_and_the_key(tmp_path: Path, extra: str, key: str) -> None:
    path = tmp_path / "mymeter.yaml"
    path.write_text(GOOD_MAP.format(model="mymeter") + extra)
    with pytest.raises(ValueError, match=rf"mymeter\.yaml: {key}: "):
        load_meter_map_file(path)


def test_map_model_must_match_its_file_name(tmp_path: Path) -> None:
    path = tmp_path / "mymeter.yaml"
    path.write_text(GOOD_MAP.format(model="other"))
    with pytest.raises(ValueError, match=r"mymeter\.yaml: model: 'other' must match"):
        load_meter_map_file(path)


def test_map_without_energy_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "mymeter.yaml"
    path.write_text(
        "model: mymeter\nfunction: 3\nword_order: big\n"
        "values:\n  power_w: {address: 0, type: int32}\n"
    )
    with pytest.raises(ValueError, match=r"mymeter\.yaml: values\.energy_import_wh: missing"):
        load_meter_map_file(path)


def test_neighbouring_values_are_read_in_one_request() -> None:
    blocks = load_meter_map("sdm630").read_blocks()
    assert [(b.address, b.count) for b in blocks] == [(0x0000, 12), (0x0034, 2), (0x0046, 4)]


# --- decoding through the wire -----------------------------------------------------------


@pytest.mark.parametrize("model", meter_models())
async def test_every_shipped_map_decodes_known_values(
    model: str, servers: ServerFactory, buses: Callable[[ModbusMeterServer], ModbusBus]
) -> None:
    server = await servers({7: (model, KNOWN)})
    meter = ModbusMeter(1, model=model, bus=buses(server), unit=7)
    assert isinstance(meter, Meter)
    assert_reading(model, await meter.read(), KNOWN)
    assert server.units[7].requests == len(load_meter_map(model).read_blocks())


async def test_em340_words_come_low_word_first_and_signed(
    servers: ServerFactory, buses: Callable[[ModbusMeterServer], ModbusBus]
) -> None:
    reading = MeterReading(energy_wh=7_000_000.0, power_w=-1_500.0)  # raw energy 70000
    server = await servers({1: ("em340", reading)})
    bus = buses(server)
    assert await bus.read(4, 0x0034, 2, 1) == [70_000 & 0xFFFF, 70_000 >> 16]
    assert await bus.read(4, 0x0028, 2, 1) == [(-15_000) & 0xFFFF, 0xFFFF]
    got = await ModbusMeter(1, model="em330", bus=bus, unit=1).read()
    assert got.energy_wh == 7_000_000.0
    assert got.power_w == -1_500.0


async def test_abb_energy_is_u64_in_hundredths_of_kwh(
    servers: ServerFactory, buses: Callable[[ModbusMeterServer], ModbusBus]
) -> None:
    energy_wh = 10.0 * 2**40  # needs more than 32 bits of 0.01 kWh
    server = await servers({1: ("abb_b23", MeterReading(energy_wh=energy_wh))})
    bus = buses(server)
    assert await bus.read(3, 0x5000, 4, 1) == [0x0000, 0x0100, 0x0000, 0x0000]
    assert (await ModbusMeter(1, model="abb_b23", bus=bus, unit=1).read()).energy_wh == energy_wh


async def test_abb_all_ones_means_no_value(
    servers: ServerFactory, buses: Callable[[ModbusMeterServer], ModbusBus]
) -> None:
    one_phase = MeterReading(
        energy_wh=5_000.0, power_w=3_680.0, voltage_v=(230.0,), current_a=(16.0,)
    )
    server = await servers({1: ("abb_b23", one_phase)})
    bus = buses(server)
    assert await bus.read(3, 0x5B02, 4, 1) == [0xFFFF] * 4  # voltage L2, L3
    assert await bus.read(3, 0x5B2C, 1, 1) == [0xFFFF]  # frequency
    got = await ModbusMeter(1, model="abb_b23", bus=bus, unit=1).read()
    assert got.voltage_v == (230.0, 0.0, 0.0)
    assert got.current_a == (16.0, 0.0, 0.0)
    assert got.frequency_hz is None
    assert got.energy_wh == 5_000.0


async def test_energy_register_without_value_is_never_a_reading(
    servers: ServerFactory, buses: Callable[[ModbusMeterServer], ModbusBus]
) -> None:
    readings = [MeterReading(energy_wh=math.nan), MeterReading(energy_wh=800.0)]
    server = await servers({1: ("abb_b23", lambda: readings[0])})
    meter = ModbusMeter(1, model="abb_b23", bus=buses(server), unit=1)
    with pytest.raises(DeviceError, match="energy register holds no value"):
        await meter.read()
    readings.pop(0)
    assert (await meter.read()).energy_wh == 800.0
    readings[0] = MeterReading(energy_wh=math.nan)
    assert (await meter.read()).energy_wh == 800.0
    assert meter.glitches == 1


# --- the shared line ---------------------------------------------------------------------


async def test_rtu_two_meters_share_one_line_and_requests_never_overlap(
    servers: ServerFactory, buses: Callable[[ModbusMeterServer], ModbusBus]
) -> None:
    other = MeterReading(
        energy_wh=42_000.0,
        power_w=2_300.0,
        voltage_v=(230.0,) * 3,
        current_a=(3.3,) * 3,
        frequency_hz=49.9,
    )
    server = await servers(
        {1: ("sdm630", KNOWN), 2: ("em340", other)}, transport="rtu", answer_delay_s=0.01
    )
    assert isinstance(server.port, str) and server.port.startswith("/dev/")
    bus1, bus2 = buses(server), buses(server)
    assert bus1 is bus2 and bus1.users == 2
    first = ModbusMeter(1, model="sdm630", bus=bus1, unit=1)
    second = ModbusMeter(2, model="em340", bus=bus2, unit=2)

    results = await asyncio.gather(first.read(), second.read(), first.read(), second.read())

    assert_reading("sdm630", results[0], KNOWN)
    assert_reading("em340", results[1], other)
    assert results[2] == results[0] and results[3] == results[1]
    assert server.max_in_flight == 1
    assert server.units[1].requests == 2 * 3 and server.units[2].requests == 2 * 4


async def test_last_user_closes_the_bus(
    servers: ServerFactory,
) -> None:
    server = await servers({1: ("sdm630", KNOWN)}, transport="rtu")
    assert isinstance(server.port, str)
    bus = ModbusBus.for_serial(server.port, timeout_s=TIMEOUT_S)
    assert ModbusBus.for_serial(server.port, timeout_s=TIMEOUT_S) is bus
    with pytest.raises(ValueError, match="baudrate 9600 \\(asked 19200\\)"):
        ModbusBus.for_serial(server.port, baudrate=19200, timeout_s=TIMEOUT_S)
    meter = ModbusMeter(1, model="sdm630", bus=bus, unit=1)
    await meter.read()
    await bus.close()
    assert not bus.closed
    await meter.read()  # the other user still reads
    await bus.close()
    assert bus.closed
    with pytest.raises(DeviceError, match="bus closed"):
        await meter.read()
    reopened = ModbusBus.for_serial(server.port, timeout_s=TIMEOUT_S)
    assert reopened is not bus
    await reopened.close()


async def test_tcp_several_units_behind_one_endpoint(
    servers: ServerFactory, buses: Callable[[ModbusMeterServer], ModbusBus]
) -> None:
    models = {1: "sdm630", 2: "abb_b23", 3: "em340", 4: "sdm72d"}
    server = await servers({unit: (model, KNOWN) for unit, model in models.items()})
    meters = {u: ModbusMeter(u, model=m, bus=buses(server), unit=u) for u, m in models.items()}
    readings = await asyncio.gather(*(meter.read() for meter in meters.values()))
    for model, reading in zip(models.values(), readings, strict=True):
        assert_reading(model, reading, KNOWN)


async def test_tcp_reconnects_on_the_next_read_after_the_server_restarts(
    servers: ServerFactory, buses: Callable[[ModbusMeterServer], ModbusBus]
) -> None:
    server = await servers({1: ("sdm630", KNOWN)})
    port = server.port
    meter = ModbusMeter(1, model="sdm630", bus=buses(server), unit=1)
    await meter.read()
    await server.stop()
    with pytest.raises(DeviceError, match=rf"meter sdm630 unit 1 on 127\.0\.0\.1:{port}: "):
        await meter.read()
    await servers({1: ("sdm630", KNOWN)}, port=port)
    assert_reading("sdm630", await meter.read(), KNOWN)


async def test_modbus_exception_answer_is_a_device_error(
    servers: ServerFactory, buses: Callable[[ModbusMeterServer], ModbusBus]
) -> None:
    server = await servers({1: ("sdm630", KNOWN)})
    bus = buses(server)
    with pytest.raises(ModbusExceptionResponse, match="exception response 1") as caught:
        await bus.read(3, 0x0000, 2, 1)  # the map says input registers (function 4)
    assert caught.value.code == 1
    with pytest.raises(ModbusExceptionResponse, match="exception response 2"):
        await bus.read(4, 0x0020, 2, 1)  # between the map's blocks
    with pytest.raises(ModbusExceptionResponse, match="illegal function"):
        await bus.write_registers(0x0000, [1, 2], 1)


# --- faults ------------------------------------------------------------------------------


async def test_energy_going_backwards_is_rejected_and_counted(
    servers: ServerFactory, buses: Callable[[ModbusMeterServer], ModbusBus]
) -> None:
    energy = [1_000.0]
    server = await servers({1: ("sdm630", lambda: MeterReading(energy_wh=energy[0]))})
    meter = ModbusMeter(1, model="sdm630", bus=buses(server), unit=1)
    assert (await meter.read()).energy_wh == 1_000.0

    server.set_energy_glitch(1, 400.0)
    assert (await meter.read()).energy_wh == 1_000.0
    assert meter.glitches == 1

    energy[0] = 1_100.0
    assert (await meter.read()).energy_wh == pytest.approx(1_100.0, rel=1e-6)
    assert meter.glitches == 1


async def test_energy_jump_of_more_than_a_megawatt_hour_is_rejected(
    servers: ServerFactory, buses: Callable[[ModbusMeterServer], ModbusBus]
) -> None:
    server = await servers({1: ("abb_b23", MeterReading(energy_wh=1_000.0))})
    meter = ModbusMeter(1, model="abb_b23", bus=buses(server), unit=1)
    await meter.read()
    server.set_energy_glitch(1, 1_000.0 + 2_000_000.0)
    assert (await meter.read()).energy_wh == 1_000.0
    assert meter.glitches == 1


@pytest.mark.parametrize("transport", ["tcp", "rtu"])
async def test_silent_meter_is_a_device_error_within_the_timeout_then_recovers(
    transport: str, servers: ServerFactory, buses: Callable[[ModbusMeterServer], ModbusBus]
) -> None:
    server = await servers({3: ("sdm630", KNOWN)}, transport=transport)
    bus = buses(server)
    meter = ModbusMeter(1, model="sdm630", bus=bus, unit=3)
    await meter.read()

    server.go_silent(3)
    started = time.monotonic()
    with pytest.raises(DeviceError, match=rf"^meter sdm630 unit 3 on {bus.name}: no answer$"):
        await meter.read()
    assert time.monotonic() - started < TIMEOUT_S + 0.15

    server.go_silent(3, False)
    assert_reading("sdm630", await meter.read(), KNOWN)


async def test_rtu_port_that_went_away_is_a_device_error(
    servers: ServerFactory, buses: Callable[[ModbusMeterServer], ModbusBus]
) -> None:
    server = await servers({1: ("sdm630", KNOWN)}, transport="rtu")
    meter = ModbusMeter(1, model="sdm630", bus=buses(server), unit=1)
    await meter.read()
    await server.stop()  # the pty disappears, as an unplugged USB adapter
    with pytest.raises(DeviceError, match=rf"^meter sdm630 unit 1 on {server.port}: "):
        await meter.read()


async def test_unit_nobody_answers_for_is_no_answer(
    servers: ServerFactory, buses: Callable[[ModbusMeterServer], ModbusBus]
) -> None:
    server = await servers({1: ("sdm630", KNOWN)}, transport="rtu")
    with pytest.raises(ModbusNoAnswer, match="unit 5: no answer"):
        await buses(server).read(4, 0x0000, 2, 5)


# --- the simulated EV behind the wire ----------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


async def test_energy_read_over_the_wire_follows_the_simulated_ev(
    tmp_path: Path,
    servers: ServerFactory,
    buses: Callable[[ModbusMeterServer], ModbusBus],
) -> None:
    clock = FakeClock()
    ev = SimController(1, ev_max_current_a=32.0)
    sim_meter = SimMeter(ev, tmp_path, voltage_v=230.0, phases=3, clock=clock)
    server = await servers({1: ("sdm630", sim_meter)}, transport="rtu")
    meter = ModbusMeter(1, model="sdm630", bus=buses(server), unit=1)
    try:
        idle = await meter.read()
        assert idle.energy_wh == 0.0 and idle.power_w == 0.0

        ev.plug()
        await ev.offer_current(16.0)
        await ev.set_contactor(True)
        charging = await meter.read()
        assert charging.power_w == pytest.approx(16.0 * 230.0 * 3)
        assert charging.current_a == (16.0, 16.0, 16.0)

        clock.t += 1_800.0  # half an hour at 11.04 kW
        assert (await meter.read()).energy_wh == pytest.approx(5_520.0, rel=1e-6)

        ev.unplug()
        clock.t += 600.0
        stopped = await meter.read()
        assert stopped.energy_wh == pytest.approx(5_520.0, rel=1e-6)
        assert stopped.power_w == 0.0

        sim_meter.meter_fail()  # a failed meter is silent on the wire too
        with pytest.raises(DeviceError, match="no answer"):
            await meter.read()
        sim_meter.meter_restore()
        assert (await meter.read()).energy_wh == pytest.approx(5_520.0, rel=1e-6)
        assert meter.glitches == 0
    finally:
        await sim_meter.stop()
