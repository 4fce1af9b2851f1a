"""A serial port or CAN interface that cannot be opened says why and what to do.

Missing paths and unreadable ports are real (a path that does not exist, a pty the test
user may not open); only the errno cases a test cannot provoke on this machine
(the unit's device policy, a missing or down CAN interface) go through the formatting
function with the OS error type.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Callable

import pytest
from rapi_rig import Events

from hal.drivers.infy import InfyPower
from hal.drivers.modbus_bus import ModbusBus, ModbusLinkError
from hal.drivers.ports import PERMISSION_FIX, can_problem, serial_problem
from hal.drivers.rapi import RapiController
from hal.interfaces import DeviceError, FaultCode

MISSING = "/nonexistent/ttymxc3"


async def test_a_missing_rapi_port_is_named_not_called_silent() -> None:
    events = Events()
    controller = RapiController(1, port=MISSING, timeout_s=0.2)
    await controller.start(events)
    try:
        raised = await events.fault_raised(FaultCode.InternalError)
    finally:
        await controller.stop()
    assert f"{MISSING} does not exist" in raised.info
    assert "not answering" not in raised.info


async def test_a_missing_modbus_port_is_named() -> None:
    bus = ModbusBus.for_serial(MISSING, timeout_s=0.2)
    try:
        with pytest.raises(ModbusLinkError, match=f"{MISSING} does not exist"):
            await bus.read(3, 0, 2, device_id=1)
    finally:
        await bus.close()


async def test_a_missing_slcan_adapter_is_named() -> None:
    power = InfyPower(1, interface="slcan", channel=MISSING, modules=[0])
    with pytest.raises(DeviceError, match=f"{MISSING} does not exist"):
        await power.start(lambda event: None)


async def test_a_socketcan_interface_that_cannot_be_opened_is_named() -> None:
    power = InfyPower(1, interface="socketcan", channel="can-absent", modules=[0])
    with pytest.raises(DeviceError) as raised:
        await power.start(lambda event: None)
    # Which of the two depends on the kernel: no SocketCAN at all, or no such interface.
    assert "CAN interface can-absent" in str(raised.value)
    assert "modprobe can-raw" in str(raised.value) or "ip link" in str(raised.value)


async def first_fault_info(port: str) -> str:
    events = Events()
    controller = RapiController(1, port=port, timeout_s=0.2)
    await controller.start(events)
    try:
        return (await events.fault_raised(FaultCode.InternalError)).info
    finally:
        await controller.stop()


def as_unprivileged_user(run: Callable[[], str]) -> str:
    """`run()` in a forked child that dropped root (root may open any device)."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        status = 1
        try:
            os.setgid(65534)
            os.setgroups([])
            os.setuid(65534)
            os.write(writer, run().encode())
            status = 0
        finally:
            os._exit(status)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        output = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return output


def test_a_port_the_daemon_user_may_not_open_points_at_dialout_and_device_allow() -> None:
    controller_side, port_side = os.openpty()
    port = os.ttyname(port_side)
    try:
        if os.geteuid() == 0:
            os.chmod(port, 0o600)  # owned by root: closed to nobody
            info = as_unprivileged_user(lambda: asyncio.run(first_fault_info(port)))
        else:
            os.chmod(port, 0o000)
            info = asyncio.run(first_fault_info(port))
    finally:
        os.close(port_side)
        os.close(controller_side)
    assert f"permission denied on {port}: {PERMISSION_FIX}" in info


@pytest.mark.parametrize("code", [errno.EACCES, errno.EPERM])
def test_permission_errors_name_the_group_and_the_unit(code: int) -> None:
    # EPERM is what the unit's DevicePolicy=closed gives for a device it does not allow.
    problem = serial_problem("/dev/ttyS0", PermissionError(code, os.strerror(code)))
    assert problem == (
        "permission denied on /dev/ttyS0: add the chargerd user to the dialout group, "
        "or allow the device in the unit's DeviceAllow"
    )


def test_a_missing_can_interface_says_how_to_bring_it_up() -> None:
    problem = can_problem("socketcan", "can1", 250000, OSError(errno.ENODEV, "No such device"))
    assert "no CAN interface can1" in problem
    assert "ip link set can1 up type can bitrate 250000" in problem


def test_a_can_interface_that_is_down_says_how_to_bring_it_up() -> None:
    problem = can_problem("socketcan", "can0", 125000, OSError(errno.ENETDOWN, "Network is down"))
    assert problem == "CAN interface can0 is down: ip link set can0 up type can bitrate 125000"


def test_the_cause_of_a_wrapped_error_is_found() -> None:
    try:
        try:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory")
        except OSError as exc:
            raise RuntimeError("wrapper without errno") from exc
    except RuntimeError as wrapped:
        assert serial_problem("/dev/ttyUSB0", wrapped).startswith("/dev/ttyUSB0 does not exist")

