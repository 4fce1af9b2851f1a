"""The RAPI driver against the simulated OpenEVSE controller on a real pty (no mocks)."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rapi_rig import TIMEOUT_S, Events, Rig, RigFactory, rigs

from hal.drivers.rapi import RapiController
from hal.drivers.rapi_protocol import (
    FAULT_BY_STATE,
    ChecksumError,
    FrameError,
    RapiFrame,
    frame,
    parse,
)
from hal.interfaces import (
    DeviceError,
    EvseController,
    FaultCleared,
    FaultCode,
    FaultRaised,
    PilotChanged,
    PilotState,
)
from hal.sim.meter import SimMeter


@pytest.fixture
async def make_rig() -> AsyncIterator[RigFactory]:
    async with rigs() as build:
        yield build


@pytest.fixture
async def rig(make_rig: RigFactory) -> Rig:
    return await make_rig()


# --- frames ------------------------------------------------------------------------------

EXAMPLES = ["$GS^30", "$G0^53", "$GE^26", "$F0 1^43", "$GG^24", "$SK 0^2C"]


@pytest.mark.parametrize("text", EXAMPLES)
def test_frame_and_parse_round_trip_the_documented_examples(text: str) -> None:
    parsed = parse(text.encode())
    assert frame(" ".join((parsed.command, *parsed.args)), None) == text.encode() + b"\r"
    assert parse(text.encode() + b"\r") == parsed


def test_sequence_id_goes_before_the_checksum_and_round_trips() -> None:
    raw = frame("SC 16 V", 0x2A)
    assert raw.startswith(b"$SC 16 V :2A^") and raw.endswith(b"\r")
    assert parse(raw) == RapiFrame("SC", ("16", "V"), 0x2A)
    assert parse(frame("OK 01 0 02 0100", 0x2A)) == RapiFrame("OK", ("01", "0", "02", "0100"), 0x2A)


@pytest.mark.parametrize(
    "line",
    [b"", b"GS^30", b"$GS", b"$GS^3", b"$GS^ZZ", b"$^24", b"$\xff\xfe^01", b"$GS :zz^0E"],
)
def test_parse_rejects_garbage_with_a_value_error(line: bytes) -> None:
    with pytest.raises(FrameError):
        parse(line)
    assert issubclass(FrameError, ValueError)


def test_parse_rejects_a_bad_checksum() -> None:
    with pytest.raises(ChecksumError):
        parse(b"$GS^31")


@pytest.mark.parametrize(("command", "seq"), [("", None), ("G$", None), ("GS", 0), ("GS", 255)])
def test_frame_refuses_what_it_cannot_encode(command: str, seq: int | None) -> None:
    with pytest.raises(ValueError):
        frame(command, seq)


# --- pilot and offer ---------------------------------------------------------------------


async def test_start_reports_pilot_a_once_and_holds_the_ev_off(rig: Rig) -> None:
    assert isinstance(rig.controller, EvseController)
    await rig.controller.request("GS")  # anything still on the line has arrived now
    assert rig.events.items == [PilotChanged(1, PilotState.A)]
    assert rig.device.mode == "sleeping"


async def test_plug_in_is_seen_while_the_controller_sleeps(rig: Rig) -> None:
    rig.device.plug()
    await rig.events.wait(PilotChanged(1, PilotState.B))
    assert rig.device.evse_state == 0xFE
    assert rig.device.controller.current_a == 0


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def test_an_offer_lets_the_ev_charge_and_the_meter_counts(rig: Rig, tmp_path: Path) -> None:
    clock = FakeClock()
    meter = SimMeter(rig.device.controller, tmp_path, voltage_v=230.0, phases=1, clock=clock)
    try:
        await rig.charging(16)
        assert rig.commands()[-2:] == ["SC 16 V", "FE"]
        assert rig.device.controller.current_a == 16
        clock.t += 3600
        assert meter.energy_wh == pytest.approx(16 * 230.0)

        await rig.controller.offer_current(0)
        await rig.events.wait(PilotChanged(1, PilotState.B))
        assert rig.commands()[-2:] == ["FS", "GS"]  # the hold-off, and its check
        await rig.until(lambda: not rig.device.controller.contactor_closed)
        clock.t += 3600
        assert meter.energy_wh == pytest.approx(16 * 230.0)
    finally:
        await meter.stop()


async def test_a_clamped_offer_is_reported_and_charging_goes_on(
    make_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await make_rig(device_max_current_a=16)
    with caplog.at_level(logging.WARNING, logger="hal.drivers.rapi"):
        await rig.charging(32)
    assert "clamped the offer of 32 A to 16 A" in caplog.text
    assert rig.controller.offered_a == 16
    assert rig.device.controller.current_a == 16


async def test_opening_the_contactor_while_the_ev_draws_puts_the_controller_to_sleep(
    rig: Rig,
) -> None:
    await rig.charging(16)
    await rig.controller.set_contactor(False)
    await rig.events.wait(PilotChanged(1, PilotState.B))
    assert rig.device.mode == "sleeping"
    rig.events.items.clear()
    await rig.controller.set_contactor(True)
    await rig.events.wait(PilotChanged(1, PilotState.C))
    await rig.until(lambda: rig.device.controller.current_a == 16)


# --- faults ------------------------------------------------------------------------------


@pytest.mark.parametrize("state", sorted(FAULT_BY_STATE))
async def test_a_fault_state_raises_its_fault_and_leaving_it_clears_it(
    rig: Rig, state: int
) -> None:
    code = FAULT_BY_STATE[state].code
    rig.device.fault(state)
    raised = await rig.events.fault_raised(code)
    assert f"{state:02X}" in raised.info
    rig.device.clear()
    await rig.events.wait(FaultCleared(1, code))
    assert sum(isinstance(e, FaultRaised) for e in rig.events.items) == 1


def test_the_fault_table_maps_the_documented_codes() -> None:
    assert {state: fault.code for state, fault in FAULT_BY_STATE.items()} == {
        0x05: FaultCode.EVCommunicationError,
        0x06: FaultCode.GroundFailure,
        0x07: FaultCode.GroundFailure,
        0x08: FaultCode.PowerSwitchFailure,
        0x09: FaultCode.GroundFailure,
        0x0A: FaultCode.HighTemperature,
        0x0B: FaultCode.OverCurrentFailure,
        0x0E: FaultCode.PowerSwitchFailure,
    }


async def test_a_fault_while_charging_opens_the_relay(rig: Rig) -> None:
    await rig.charging(16)
    rig.device.fault(0x06)
    await rig.events.fault_raised(FaultCode.GroundFailure)
    await rig.until(lambda: rig.device.controller.current_a == 0)


async def test_garbage_and_bad_checksums_are_dropped_and_later_frames_work(rig: Rig) -> None:
    rig.device.inject(b"\x00\xff\xfegarbage\r")
    rig.device.inject(b"$AT 02 02 16 0100^00\r")  # claims an EV, checksum wrong
    rig.device.inject(b"$OK 1 2 3 :01^00\r")
    rig.device.inject(b"line noise without end ")  # glued to the front of the next frame
    await rig.controller.request("GS")
    assert rig.controller.bad_frames >= 3
    assert PilotChanged(1, PilotState.B) not in rig.events.items

    rig.device.plug()
    await rig.events.wait(PilotChanged(1, PilotState.B))
    await rig.charging(16)


# --- resynchronisation -------------------------------------------------------------------


async def test_after_a_reboot_the_offer_is_applied_again(rig: Rig) -> None:
    await rig.charging(16)
    rig.device.reboot()
    assert rig.device.pilot_amps == 32  # the volatile offer is gone
    await rig.until(lambda: rig.device.pilot_amps == 16 and rig.device.controller.current_a == 16)
    assert rig.device.mode == "enabled"


async def test_after_a_reboot_a_sleeping_controller_is_put_back_to_sleep(rig: Rig) -> None:
    rig.device.plug()
    await rig.events.wait(PilotChanged(1, PilotState.B))
    rig.device.reboot()  # comes back enabled: the EV would draw unauthorised
    await rig.until(lambda: rig.device.mode == "sleeping" and rig.device.controller.current_a == 0)


async def test_a_silent_controller_raises_internal_error_and_recovers(rig: Rig) -> None:
    await rig.charging(16)
    rig.device.go_silent(True)
    with pytest.raises(DeviceError):
        await rig.controller.offer_current(10)
    raised = await rig.events.fault_raised(FaultCode.InternalError)
    assert raised.info.startswith("EVSE controller not answering")

    rig.device.go_silent(False)
    await rig.events.wait(FaultCleared(1, FaultCode.InternalError))
    # The offer made while it was silent reaches it now.
    await rig.until(lambda: rig.device.pilot_amps == 10)
    await rig.until(lambda: rig.device.controller.current_a == 10)


async def test_a_missing_port_raises_internal_error_without_failing_start() -> None:
    events = Events()
    controller = RapiController(1, port="/nonexistent/ttyRAPI", timeout_s=TIMEOUT_S)
    await controller.start(events)
    try:
        raised = await events.fault_raised(FaultCode.InternalError)
        assert "/nonexistent/ttyRAPI" in raised.info
    finally:
        await controller.stop()


async def test_the_poll_reports_a_change_the_notification_missed(make_rig: RigFactory) -> None:
    rig = await make_rig(poll_interval_s=0.2)
    rig.device.go_silent(True)  # swallows the $AT of the plug-in
    rig.device.plug()
    await rig.until(lambda: rig.device.controller.plugged)
    rig.device.go_silent(False)
    await rig.events.wait(PilotChanged(1, PilotState.B))
    assert rig.events.items.count(PilotChanged(1, PilotState.B)) == 1


# --- requests ----------------------------------------------------------------------------


async def test_sequence_ids_are_echoed_and_a_late_reply_is_not_taken_for_the_next(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(timeout_s=0.4)
    seqs = [f.seq for f in rig.device.received]
    assert seqs and all(seq is not None for seq in seqs)
    assert all(a != b for a, b in zip(seqs, seqs[1:], strict=False))

    rig.device.reply_delay_s = 0.5  # GS answered after the driver gave up on it
    with pytest.raises(DeviceError):
        await rig.controller.request("GS")
    rig.device.reply_delay_s = 0.25  # GC pending when the late GS reply arrives
    reply = await rig.controller.request("GC")
    rig.device.reply_delay_s = 0.0
    assert reply == RapiFrame("OK", ("6", "32", "32", "32"), reply.seq)
    assert rig.controller.stale_replies >= 1


async def test_heartbeat_supervision_is_configured_when_the_firmware_has_it(
    make_rig: RigFactory,
) -> None:
    with_hs = await make_rig(poll_interval_s=5.0)
    assert with_hs.controller.heartbeat is True
    assert with_hs.device.heartbeat_interval_s == math.ceil(5.0 * 3)
    without = await make_rig(device_heartbeat=False)
    assert without.controller.heartbeat is False


async def test_a_missed_heartbeat_is_acknowledged_and_the_offer_restored(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(poll_interval_s=0.2)
    await rig.charging(16)
    rig.device.expire_heartbeat()
    assert rig.device.pilot_amps == 6
    await rig.until(lambda: rig.device.pilot_amps == 16)
    assert "SY 165" in rig.commands()


async def test_without_a_cable_lock_set_lock_reports_no_lock(rig: Rig) -> None:
    assert rig.controller.has_lock is False
    assert await rig.controller.set_lock(True) is False
    assert not any(c.startswith("S5") for c in rig.commands())


async def test_a_mennekes_lock_is_moved(make_rig: RigFactory) -> None:
    rig = await make_rig(device_has_lock=True)
    assert rig.controller.has_lock is True
    assert await rig.controller.set_lock(True) is True
    await rig.until(lambda: rig.device.controller.locked)
    assert await rig.controller.set_lock(False) is True
    await rig.until(lambda: not rig.device.controller.locked)


async def test_stop_ends_the_reader_thread(rig: Rig) -> None:
    await rig.controller.stop()
    assert not any(t.name.startswith("rapi-reader") for t in threading.enumerate())
