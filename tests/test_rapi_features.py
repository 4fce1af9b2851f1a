"""The RAPI driver with controllers that lack optional features, refuse the hold-off, do not
answer, or run firmware before RAPI 3.0.0 (no sequence ids): against the pty simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from rapi_rig import Rig, RigFactory, rigs

from hal.drivers.rapi_startup import heartbeat_interval_s
from hal.interfaces import FaultCleared, FaultCode, FaultRaised, PilotChanged, PilotState

WATCH_S = 2.0  # how long a test watches the line and the EV
POLL_S = 0.5  # driver poll interval in these tests (the default is 5 s)
# Commands the driver may put on the line in WATCH_S: a poll (GS, SY) per POLL_S, a retry
# round (reopen, FS, GS) per retry pause (0.5 s), and slack. The bug this guards against
# sent about 3,800 commands a second.
MAX_LINES_IN_WATCH = 12


@pytest.fixture
async def make_rig() -> AsyncIterator[RigFactory]:
    async with rigs() as build:
        yield build


def ev_draws(rig: Rig) -> bool:
    return rig.device.mode == "enabled" or rig.device.controller.current_a > 0


async def assert_never(rig: Rig, what: Any) -> None:
    """`what()` stays false for WATCH_S (checked after every command and state change)."""
    with pytest.raises(TimeoutError):
        await rig.until(what, WATCH_S)


# Firmware builds that lack (or refuse) an optional command; `device_*` go to the simulator.
BUILDS = {
    "J1772 (no Mennekes lock: G5 and S5 refused)": {"device_has_lock": False},
    "Mennekes lock refusing manual mode (S5)": {"device_has_lock": True, "device_refuse": {"S5"}},
    "lock without G5": {"device_has_lock": True, "device_refuse": {"G5"}},
    "no heartbeat supervision (SY)": {"device_refuse": {"SY", "GY"}},
    "no version command (GV)": {"device_refuse": {"GV"}},
    "nothing optional at all": {
        "device_has_lock": True,
        "device_refuse": {"S5", "G5", "SY", "GY", "GV", "G0"},
    },
}  # fmt: skip


@pytest.mark.parametrize("build", BUILDS.values(), ids=BUILDS.keys())
async def test_a_refused_optional_command_leaves_the_ev_held_off_and_the_line_quiet(
    make_rig: RigFactory, build: dict[str, Any]
) -> None:
    rig = await make_rig(poll_interval_s=POLL_S, **build)
    assert rig.device.received[0].command == "FS"  # the hold-off before anything optional
    assert rig.device.mode == "sleeping"
    assert not rig.events.items or all(isinstance(e, PilotChanged) for e in rig.events.items)

    heard = rig.device.lines_heard
    rig.device.plug()
    await rig.events.wait(PilotChanged(1, PilotState.B))
    await assert_never(rig, lambda: ev_draws(rig))
    assert rig.device.lines_heard - heard <= MAX_LINES_IN_WATCH
    heartbeat_setup = f"SY {heartbeat_interval_s(POLL_S)} 6"
    for refused in ("S5 M", heartbeat_setup, "G5", "GV"):  # asked once, remembered
        assert rig.commands().count(refused) <= 1

    await rig.controller.offer_current(16)  # the authorization still gets through
    await rig.until(lambda: rig.device.controller.current_a == 16)


async def test_refused_features_are_asked_again_only_after_a_reboot(make_rig: RigFactory) -> None:
    rig = await make_rig(poll_interval_s=POLL_S, device_has_lock=True, device_refuse={"S5"})
    assert rig.commands().count("S5 M") == 1
    assert rig.controller.has_lock is False
    rig.device.plug()
    rig.device.reboot()  # comes back enabled, with an EV that would draw at once
    await rig.until(lambda: rig.commands().count("S5 M") == 2)
    await rig.until(lambda: rig.device.mode == "sleeping" and rig.device.controller.current_a == 0)
    await assert_never(rig, lambda: ev_draws(rig))
    assert rig.commands().count("S5 M") == 2


async def test_set_lock_reports_no_lock_when_the_lock_refuses_manual_mode(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(device_has_lock=True, device_refuse={"S5"})
    assert await rig.controller.set_lock(False) is False
    assert rig.controller.has_lock is False
    assert rig.commands().count("S5 M") == 1
    assert "S5 0" not in rig.commands()


async def test_a_refused_hold_off_faults_the_connector_and_is_retried_at_a_bounded_rate(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(poll_interval_s=POLL_S, device_refuse={"FS", "FD"})
    raised = await rig.events.fault_raised(FaultCode.InternalError)
    assert "will not hold the EV off" in raised.info
    heard = rig.device.lines_heard
    await rig.until(lambda: rig.device.lines_heard >= heard + 2)  # it keeps trying ...
    await assert_never(rig, lambda: rig.device.lines_heard > heard + MAX_LINES_IN_WATCH)
    assert not any(c.startswith(("FE", "SC")) for c in rig.commands())  # ... never enabling

    rig.device.refuse.discard("FS")  # the controller takes the hold-off again
    await rig.events.wait(FaultCleared(1, FaultCode.InternalError))
    assert rig.device.mode == "sleeping"


async def test_a_controller_without_sleep_is_held_off_disabled(make_rig: RigFactory) -> None:
    rig = await make_rig(device_refuse={"FS"})
    assert rig.device.mode == "disabled"
    assert not any(isinstance(e, FaultRaised) for e in rig.events.items)
    rig.device.plug()
    await rig.controller.offer_current(16)
    await rig.until(lambda: rig.device.controller.current_a == 16)
    await rig.controller.offer_current(0)
    await rig.until(lambda: rig.device.mode == "disabled" and rig.device.controller.current_a == 0)


async def test_a_controller_silent_at_start_up_faults_at_once_and_is_held_off_when_it_answers(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(poll_interval_s=POLL_S, silent=True)
    # No grace of several failures: nothing is known to hold the EV off.
    assert any(
        isinstance(e, FaultRaised) and e.code is FaultCode.InternalError for e in rig.events.items
    )
    assert rig.controller.offered_a == 0
    heard = rig.device.lines_heard
    await assert_never(rig, lambda: rig.device.lines_heard > heard + MAX_LINES_IN_WATCH)
    assert rig.device.lines_heard > heard  # still trying

    rig.device.go_silent(False)
    await rig.events.wait(FaultCleared(1, FaultCode.InternalError))
    assert rig.device.mode == "sleeping"  # the fault clears only once the EV is held off
    assert not any(c.startswith(("FE", "SC")) for c in rig.commands())
    rig.device.plug()
    await rig.events.wait(PilotChanged(1, PilotState.B))
    assert rig.device.controller.current_a == 0


async def test_firmware_before_rapi_3_works_without_sequence_ids(make_rig: RigFactory) -> None:
    rig = await make_rig(device_rapi_version="2.0.4", device_firmware="2.0.4")
    assert rig.device.mode == "sleeping"
    # Only the first request carried a sequence id (the firmware took it for an argument).
    assert [f.args[-1] for f in rig.device.received[:1]] == [":01"]
    assert not any(a.startswith(":") for f in rig.device.received[1:] for a in f.args)
    assert rig.controller.heartbeat is True

    rig.device.plug()
    await rig.events.wait(PilotChanged(1, PilotState.B))
    await rig.controller.offer_current(16)  # `SC 16 V :ss` would be refused by this firmware
    await rig.events.wait(PilotChanged(1, PilotState.C))
    await rig.until(lambda: rig.device.controller.current_a == 16)

    rig.device.unplug()
    await rig.events.wait(PilotChanged(1, PilotState.A))
    await rig.controller.offer_current(0)
    await rig.until(lambda: rig.device.mode == "sleeping")
    assert not any(isinstance(e, FaultRaised) for e in rig.events.items)


async def test_after_a_reboot_into_old_firmware_sequence_ids_are_dropped(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig()
    rig.device.sequence_ids = False  # flashed with firmware before RAPI 3.0.0
    rig.device.reboot()
    await rig.until(lambda: rig.device.mode == "sleeping")
    rig.device.plug()
    await rig.controller.offer_current(10)
    await rig.until(lambda: rig.device.controller.current_a == 10)
