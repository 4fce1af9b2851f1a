"""InfyPower modules over CAN: the protocol codecs, and the driver against simulated modules
on real python-can buses (`virtual` in-process, `slcan` over a pty, also from another process).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import can
import pytest

from hal.drivers.infy import (
    InfyPower,
)
from hal.drivers.infy_protocol import (
    Capabilities,
    Command,
    ErrorCode,
    FrameId,
    StatusBit,
    decode_capabilities,
    decode_module_count,
    decode_output,
    decode_setpoint,
    decode_status,
    decode_switch,
    encode_capabilities,
    encode_module_count,
    encode_output,
    encode_setpoint,
    encode_status,
    encode_switch,
    pack_id,
    reply_id,
    split_current,
    unpack_id,
)
from hal.interfaces import (
    DeviceError,
    FaultCleared,
    FaultCode,
    FaultRaised,
    HalEvent,
    PowerModule,
    PowerReading,
)
from hal.sim.infy_module import DEFAULT_CAPABILITIES, InfyModuleSim

ROOT = Path(__file__).resolve().parents[1]
SILENCE_S = 0.3  # the simulated modules' silence timeout (a real one: ~10 s)
POLL_S = 0.1  # the production poll is 1 s; the tests scale it with the silence timeout
FAST_POLL_S = 0.05  # where the keep-alive is not the point: shorter tests
SLCAN_OPTIONS = {"sleep_after_open": 0}  # a pty needs no settling time


# --- ids and payloads --------------------------------------------------------------------


def test_set_output_to_module_0_has_the_id_of_the_protocol_example() -> None:
    assert pack_id(0x1C, 0x00, 0xF0) == 0x029C00F0


def test_reply_of_module_0_to_read_output_has_the_id_of_the_protocol_example() -> None:
    assert pack_id(0x03, 0xF0, 0x00) == 0x0283F000
    assert reply_id(unpack_id(pack_id(0x03, 0x00, 0xF0))) == 0x0283F000


def test_unpack_id_gives_every_field() -> None:
    assert unpack_id(0x029C00F0) == FrameId(command=0x1C, destination=0x00, source=0xF0)
    assert unpack_id(pack_id(0x04, 0x05, 0xF0, device=0x0B, error=3)) == FrameId(
        command=0x04, destination=0x05, source=0xF0, device=0x0B, error=3
    )


def test_pack_id_refuses_fields_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="command"):
        pack_id(0x40, 0, 0xF0)
    with pytest.raises(ValueError, match="error"):
        pack_id(0x03, 0, 0xF0, error=8)


def test_setpoint_is_millivolts_and_milliamps_big_endian() -> None:
    data = encode_setpoint(400.0, 30.0)
    assert data == bytes.fromhex("00061A80 00007530")
    assert decode_setpoint(data) == (400.0, 30.0)


def test_output_is_two_big_endian_floats() -> None:
    data = encode_output(401.5, 29.25)
    assert data == bytes.fromhex("43C8C000 41EA0000")
    assert decode_output(data) == (401.5, 29.25)


def test_capabilities_round_trip_in_protocol_units() -> None:
    caps = Capabilities(
        max_voltage_v=1000, min_voltage_v=150, max_current_a=33.3, rated_power_w=20000
    )
    data = encode_capabilities(caps)
    assert data == bytes.fromhex("03E8 0096 014D 07D0")
    assert decode_capabilities(data) == caps


def test_switch_byte_0_is_0_for_on_and_1_for_off() -> None:
    assert encode_switch(True) == bytes(8)
    assert encode_switch(False) == bytes([1]) + bytes(7)
    assert decode_switch(encode_switch(True)) is True
    assert decode_switch(encode_switch(False)) is False
    with pytest.raises(ValueError):
        decode_switch(bytes([2]) + bytes(7))


def test_module_count_is_byte_2() -> None:
    assert encode_module_count(3) == bytes([0, 0, 3, 0, 0, 0, 0, 0])
    assert decode_module_count(encode_module_count(3)) == 3


@pytest.mark.parametrize("bit", list(StatusBit))
def test_every_status_bit_round_trips_alone(bit: StatusBit) -> None:
    data = encode_status({bit})
    assert data[bit.byte] == 1 << bit.bit
    assert sum(data) == 1 << bit.bit
    assert decode_status(data) == {bit}


def test_status_positions_of_the_protocol() -> None:
    assert decode_status(bytes([0, 0, 0, 0, 0, 0, 0, 0x01])) == {StatusBit.OUTPUT_SHORT}
    assert decode_status(bytes([0, 0, 0, 0, 0, 0, 0x10, 0])) == {StatusBit.OVER_TEMPERATURE}
    assert decode_status(bytes([0, 0, 0, 0, 0, 0x08, 0, 0])) == {StatusBit.PHASE_LOST}
    assert decode_status(bytes([0, 0, 0, 0, 0, 0, 0, 0x02])) == set()  # reserved


def test_frames_carry_eight_bytes() -> None:
    with pytest.raises(ValueError, match="8 data bytes"):
        decode_output(bytes(4))


def test_current_is_split_evenly() -> None:
    assert split_current(60.0, [50.0, 50.0]) == [30.0, 30.0]


def test_a_module_that_cannot_take_its_share_leaves_the_rest_to_the_others() -> None:
    assert split_current(60.0, [50.0, 20.0]) == [40.0, 20.0]
    assert split_current(200.0, [50.0, 20.0]) == [50.0, 20.0]


# --- the driver against simulated modules -------------------------------------------------


@dataclass
class Rig:
    sim: InfyModuleSim
    power: InfyPower
    events: list[HalEvent]


@asynccontextmanager
async def running(
    transport: str = "virtual",
    *,
    modules: tuple[int, ...] = (0, 1),
    capabilities: Capabilities | dict[int, Capabilities] = DEFAULT_CAPABILITIES,
    reply_timeout_s: float = 0.04,
    poll_interval_s: float = FAST_POLL_S,
) -> AsyncIterator[Rig]:
    channel = f"infy-test-{uuid.uuid4().hex}"
    sim = InfyModuleSim(
        modules,
        interface=transport,
        channel=channel,
        capabilities=capabilities,
        silence_timeout_s=SILENCE_S,
        ramp_s=0.02,
    )
    await sim.start()
    slcan = transport == "slcan"
    power = InfyPower(
        1,
        interface=transport,
        channel=str(sim.port) if slcan else channel,
        modules=list(modules),
        poll_interval_s=poll_interval_s,
        reply_timeout_s=reply_timeout_s,
        bus_options=SLCAN_OPTIONS if slcan else None,
    )
    events: list[HalEvent] = []
    try:
        await power.start(events.append)
        yield Rig(sim, power, events)
    finally:
        await power.stop()
        await sim.stop()


async def eventually(predicate: Callable[[], bool], timeout_s: float = 1.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def all_on(rig: Rig) -> bool:
    return all(rig.sim.module(m).on for m in rig.sim.addresses)


def all_off(rig: Rig) -> bool:
    return not any(rig.sim.module(m).on for m in rig.sim.addresses)


def test_infy_power_is_a_power_module() -> None:
    power = InfyPower(1, interface="virtual", channel="x", modules=[0])
    assert isinstance(power, PowerModule)


async def test_start_reads_the_capabilities_of_every_module() -> None:
    small = Capabilities(750, 50, 20, 15000)
    async with running(capabilities={0: DEFAULT_CAPABILITIES, 1: small}) as rig:
        assert rig.power.capabilities == {0: DEFAULT_CAPABILITIES, 1: small}
        assert await rig.power.module_count() == 2


async def test_start_fails_with_device_error_when_the_bus_cannot_open() -> None:
    power = InfyPower(1, interface="slcan", channel="/nonexistent/tty", modules=[0])
    with pytest.raises(DeviceError, match="cannot open CAN bus"):
        await power.start(lambda event: None)


async def test_current_is_split_evenly_over_the_modules() -> None:
    async with running() as rig:
        await rig.power.set_output(400.0, 60.0)
        await rig.power.switch(True)
        for module in (0, 1):
            frames = [
                data
                for frame, data in rig.sim.received
                if frame.command == Command.SET_OUTPUT and frame.destination == module
            ]
            assert frames == [bytes.fromhex("00061A80 00007530")]  # 400 000 mV, 30 000 mA
            assert rig.sim.module(module).on
        await asyncio.sleep(0.05)  # the outputs ramp
        assert await rig.power.read() == PowerReading(voltage_v=400.0, current_a=60.0)


async def test_each_module_gets_no_more_than_its_maximum_current() -> None:
    small = Capabilities(1000, 150, 20, 30000)
    async with running(capabilities={0: DEFAULT_CAPABILITIES, 1: small}) as rig:
        await rig.power.set_output(400.0, 60.0)
        assert rig.sim.setpoints(0) == [(400.0, 40.0)]
        assert rig.sim.setpoints(1) == [(400.0, 20.0)]


async def test_rated_power_caps_the_current_at_high_voltage() -> None:
    async with running() as rig:  # 30 kW per module: 37.5 A at 800 V
        await rig.power.set_output(800.0, 100.0)
        assert rig.power.setpoints == {0: (800.0, 37.5), 1: (800.0, 37.5)}


async def test_a_voltage_outside_the_module_range_is_refused() -> None:
    async with running() as rig:
        with pytest.raises(ValueError, match="outside power module 0's range"):
            await rig.power.set_output(1200.0, 10.0)
        with pytest.raises(ValueError):
            await rig.power.set_output(400.0, -1.0)
        assert rig.sim.setpoints(0) == []


async def test_polling_keeps_the_modules_on_past_their_silence_timeout() -> None:
    async with running(poll_interval_s=POLL_S) as rig:
        await rig.power.set_output(400.0, 20.0)
        await rig.power.switch(True)
        await asyncio.sleep(SILENCE_S + 2 * POLL_S)
        assert all_on(rig)
        assert [rig.sim.module(m).timeouts for m in (0, 1)] == [0, 0]
        assert rig.events == []


async def test_modules_switch_themselves_off_without_traffic() -> None:
    channel = f"infy-test-{uuid.uuid4().hex}"
    sim = InfyModuleSim([0], channel=channel, silence_timeout_s=SILENCE_S)
    await sim.start()
    bus = can.Bus(interface="virtual", channel=channel)
    try:
        for command, data in ((0x1C, encode_setpoint(400, 10)), (0x1A, encode_switch(True))):
            bus.send(can.Message(arbitration_id=pack_id(command, 0, 0xF0), data=data))
            reply = await asyncio.to_thread(bus.recv, 0.5)  # the sim answers on this loop
            assert reply is not None and reply.arbitration_id == pack_id(command, 0xF0, 0)
        await eventually(lambda: sim.module(0).on, 0.2)
        await asyncio.sleep(SILENCE_S + 0.1)  # nobody polls
        assert not sim.module(0).on
        assert sim.module(0).timeouts == 1
    finally:
        bus.shutdown()
        await sim.stop()


async def test_simulated_module_answers_invalid_commands_and_data_with_error_codes() -> None:
    channel = f"infy-test-{uuid.uuid4().hex}"
    sim = InfyModuleSim([0], channel=channel)
    await sim.start()
    bus = can.Bus(interface="virtual", channel=channel)
    try:
        cases = [
            (0x3E, bytes(8), ErrorCode.COMMAND_INVALID),
            (0x1A, bytes([5]) + bytes(7), ErrorCode.DATA_INVALID),
            (0x1C, encode_setpoint(1500, 10), ErrorCode.DATA_INVALID),  # above 1000 V
            (0x03, bytes(8), ErrorCode.NORMAL),
        ]
        for command, data, error in cases:
            bus.send(can.Message(arbitration_id=pack_id(command, 0, 0xF0), data=data))
            reply = await asyncio.to_thread(bus.recv, 0.5)  # the sim answers on this loop
            assert reply is not None
            assert unpack_id(reply.arbitration_id) == FrameId(command, 0xF0, 0x00, error=error)
        assert sim.module(0).voltage_setpoint_v == 0.0
    finally:
        bus.shutdown()
        await sim.stop()


# byte, bit → the code the station must report (HARDWARE.md, and the driver's docs).
STATUS_FAULTS = [
    (7, 0, FaultCode.OverCurrentFailure),  # output short
    (7, 5, FaultCode.InternalError),  # discharge abnormal
    (6, 1, FaultCode.InternalError),  # fault
    (6, 2, FaultCode.InternalError),  # protection
    (6, 3, FaultCode.HighTemperature),  # fan fault
    (6, 4, FaultCode.HighTemperature),  # over-temperature
    (6, 5, FaultCode.OverVoltage),  # output over-voltage
    (5, 1, FaultCode.InternalError),  # id repeated
    (5, 3, FaultCode.UnderVoltage),  # phase lost
    (5, 4, FaultCode.OtherError),  # input unbalanced
    (5, 5, FaultCode.UnderVoltage),  # input under-voltage
    (5, 6, FaultCode.OverVoltage),  # input over-voltage
]


@pytest.mark.parametrize(("byte", "bit", "code"), STATUS_FAULTS)
async def test_a_status_fault_is_reported_and_switches_every_module_off(
    byte: int, bit: int, code: FaultCode
) -> None:
    async with running() as rig:
        await rig.power.set_output(400.0, 60.0)
        await rig.power.switch(True)
        rig.sim.set_status_bit(1, byte, bit)
        await eventually(lambda: bool(rig.events))
        raised = rig.events[0]
        assert isinstance(raised, FaultRaised)
        assert (raised.connector, raised.code) == (1, code)
        assert raised.info.startswith("power module 1 ")
        await eventually(lambda: all_off(rig), 0.2)
        assert not rig.power.is_on
        rig.sim.clear_status()
        await eventually(lambda: len(rig.events) == 2)
        assert rig.events[1] == FaultCleared(1, code)


INFORMATIONAL = [
    StatusBit.SLEEPING,
    StatusBit.WALK_IN,
    StatusBit.COMM_INTERRUPTED,
    StatusBit.POWER_LIMITED,
    StatusBit.LOAD_SHARING,
    StatusBit.PFC_OFF,
]


async def test_informational_status_bits_are_no_faults() -> None:
    async with running() as rig:
        await rig.power.set_output(400.0, 20.0)
        await rig.power.switch(True)
        for bit in INFORMATIONAL:
            rig.sim.set_status_bit(0, bit.byte, bit.bit)
        await asyncio.sleep(3 * FAST_POLL_S)
        assert rig.events == []
        assert all_on(rig)


async def test_switching_on_is_refused_while_a_fault_is_active() -> None:
    async with running() as rig:
        rig.sim.set_status_bit(0, 6, 4)
        await eventually(lambda: bool(rig.events))
        with pytest.raises(DeviceError, match="over-temperature"):
            await rig.power.switch(True)
        assert all_off(rig)
        rig.sim.clear_status()
        await eventually(lambda: len(rig.events) == 2)
        await rig.power.switch(True)
        assert all_on(rig)


async def test_a_silent_module_is_a_fault_after_three_polls_and_recovers() -> None:
    async with running() as rig:
        await rig.power.set_output(400.0, 60.0)
        await rig.power.switch(True)
        before = len(rig.sim.received)
        rig.sim.go_silent(1)
        await eventually(lambda: bool(rig.events))
        assert rig.events == [FaultRaised(1, FaultCode.InternalError, "power module 1 silent")]
        unanswered = [
            frame
            for frame, _ in list(rig.sim.received)[before:]
            if frame.destination == 1 and frame.command == Command.STATUS
        ]
        # the fault comes with the third unanswered poll; a fourth may be out by now
        assert 3 <= len(unanswered) <= 4
        await eventually(lambda: not rig.sim.module(0).on, 0.2)
        assert not rig.power.is_on
        with pytest.raises(DeviceError):
            await rig.power.read()

        rig.sim.go_silent(1, False)
        await eventually(lambda: len(rig.events) == 2)
        assert rig.events[1] == FaultCleared(1, FaultCode.InternalError)
        await rig.power.switch(True)
        assert all_on(rig)


async def test_stop_switches_every_module_off() -> None:
    async with running() as rig:
        await rig.power.set_output(400.0, 20.0)
        await rig.power.switch(True)
        assert all_on(rig)
        await rig.power.stop()
        assert all_off(rig)


# --- slcan over a pty ------------------------------------------------------------------------


def test_simulated_slcan_adapter_answers_like_a_lawicel_one() -> None:
    sim = InfyModuleSim([0], interface="slcan")
    assert sim.adapter.command("S4") == b"\r"
    assert sim.adapter.command("V") == b"V1013\r"
    assert sim.adapter.command("T0283F00080000000000000000") == b"\a"  # channel closed
    assert sim.adapter.command("O") == b"\r"
    answer = sim.adapter.command(f"T{pack_id(0x03, 0, 0xF0):08X}80000000000000000")
    assert answer == b"Z\r" + f"T{pack_id(0x03, 0xF0, 0):08X}8{'00' * 8}\r".encode()
    assert sim.adapter.command("t1232AABB") == b"z\r"
    assert sim.adapter.command("?") == b"\a"


async def test_a_session_over_slcan_on_a_pty() -> None:
    async with running("slcan", reply_timeout_s=0.1) as rig:
        assert rig.power.capabilities[1] == DEFAULT_CAPABILITIES
        await rig.power.set_output(400.0, 60.0)
        await rig.power.switch(True)
        assert rig.sim.setpoints(0) == [(400.0, 30.0)]
        await asyncio.sleep(SILENCE_S + 0.1)  # kept on by the poll
        assert all_on(rig)
        assert await rig.power.read() == PowerReading(400.0, 60.0)

        rig.sim.set_status_bit(0, 6, 5)
        await eventually(lambda: bool(rig.events))
        assert rig.events[0] == FaultRaised(
            1, FaultCode.OverVoltage, "power module 0 output over-voltage"
        )
        await eventually(lambda: all_off(rig), 0.3)
        rig.sim.clear_status()
        await eventually(lambda: FaultCleared(1, FaultCode.OverVoltage) in rig.events)

        rig.sim.go_silent(0)
        await eventually(lambda: len(rig.events) == 3)
        assert rig.events[2] == FaultRaised(1, FaultCode.InternalError, "power module 0 silent")
        rig.sim.go_silent(0, False)
        await eventually(lambda: len(rig.events) == 4)
        assert rig.events[3] == FaultCleared(1, FaultCode.InternalError)


async def test_a_session_with_the_modules_in_another_process() -> None:
    sim = subprocess.Popen(
        [sys.executable, "-m", "hal.sim.infy_module", "--modules", "0", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert sim.stdout is not None
        port = await asyncio.wait_for(asyncio.to_thread(sim.stdout.readline), 5.0)
        power = InfyPower(
            2,
            interface="slcan",
            channel=port.strip(),
            modules=[0, 1],
            poll_interval_s=POLL_S,
            reply_timeout_s=0.2,
            bus_options=SLCAN_OPTIONS,
        )
        events: list[HalEvent] = []
        await power.start(events.append)
        try:
            assert power.capabilities[0] == DEFAULT_CAPABILITIES
            await power.set_output(500.0, 80.0)
            await power.switch(True)
            await asyncio.sleep(0.1)
            assert await power.read() == PowerReading(500.0, 80.0)
            assert events == []
        finally:
            await power.stop()
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(5)
