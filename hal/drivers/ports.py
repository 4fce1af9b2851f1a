"""Why a serial port or a CAN interface cannot be opened, in words a technician can act on.

The OS says "Permission denied" or "No such device"; the technician on site needs the
fix: the dialout group, the unit's DeviceAllow, the port path, `ip link set ... up`.
"""

from __future__ import annotations

import errno
import os

PERMISSION_FIX = (
    "add the chargerd user to the dialout group, or allow the device in the unit's DeviceAllow"
)


def os_error(exc: BaseException) -> OSError | None:
    """The OS error behind `exc` (itself, or what it was raised from), if any.

    pyserial's SerialException and python-can's errors wrap the OSError of the open call
    (or are one, carrying its errno)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            return current
        current = current.__cause__ or current.__context__
    return None


def serial_problem(path: str, exc: BaseException) -> str:
    """What is wrong with serial port `path`, given the error of opening it."""
    error = os_error(exc)
    code = error.errno if error is not None else None
    if code == errno.ENOENT:
        return f"{path} does not exist (check the port path, and that the device is connected)"
    if code in (errno.EACCES, errno.EPERM):
        # EACCES: file permissions; EPERM: the unit's device policy (cgroup) refused it.
        return f"permission denied on {path}: {PERMISSION_FIX}"
    if code in (errno.EBUSY, errno.EAGAIN):
        return f"{path} is in use by another program (only one may open it)"
    if code in (errno.ENXIO, errno.ENODEV):
        return f"{path} has no device behind it (adapter unplugged, or UART disabled)"
    why = error.strerror if error is not None and error.strerror else str(exc)
    return f"cannot open {path}: {why}"


def probe_serial(path: str) -> str | None:
    """Open and close `path` to learn why another library could not open it.

    For libraries that only say "failed" (pymodbus' connect() returns False). None
    when the port opens now."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        return serial_problem(path, exc)
    os.close(fd)
    return None


def can_problem(interface: str, channel: str, bitrate: int, exc: BaseException) -> str:
    """What is wrong with CAN `channel` (python-can `interface`), given the open error."""
    if interface != "socketcan":  # slcan and friends: the channel is a serial port
        return serial_problem(channel, exc)
    error = os_error(exc)
    code = error.errno if error is not None else None
    bring_up = f"ip link set {channel} up type can bitrate {bitrate}"
    if code in (errno.ENODEV, errno.ENXIO):
        return f"no CAN interface {channel} (see `ip link`); once it exists: {bring_up}"
    if code == errno.ENETDOWN:
        return f"CAN interface {channel} is down: {bring_up}"
    if code == errno.EAFNOSUPPORT:
        return (
            f"CAN interface {channel}: SocketCAN is not available (load it: modprobe can-raw; "
            "under systemd, RestrictAddressFamilies= must list AF_CAN)"
        )
    if code in (errno.EACCES, errno.EPERM):
        return f"CAN interface {channel}: permission denied"
    why = error.strerror if error is not None and error.strerror else str(exc)
    return f"cannot open CAN interface {channel}: {why}"
