"""systemd service notifications (sd_notify) without extra packages.

With `Type=notify` systemd waits for READY=1 before it counts the service as started,
and with `WatchdogSec=` it restarts the service when WATCHDOG=1 pings stop. Outside
systemd ($NOTIFY_SOCKET unset) every call is a cheap no-op returning False.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)

# Sending to a local datagram socket only blocks when systemd's queue is full. Bound
# that, so a stuck PID 1 cannot freeze the event loop; losing one ping is harmless.
_SEND_TIMEOUT_S = 1.0


def _address(value: str) -> str | bytes | None:
    if value.startswith("/"):
        return value
    if value.startswith("@"):
        # Linux abstract namespace: a leading NUL byte instead of '@'.
        return b"\0" + value[1:].encode()
    return None  # e.g. vsock: addresses, which this minimal client does not speak


def notify(message: str) -> bool:
    """Send `message` (e.g. "READY=1") to $NOTIFY_SOCKET; True when it was sent.

    False when not run by systemd or when sending failed: a notification is never
    worth crashing the daemon for.
    """
    value = os.environ.get("NOTIFY_SOCKET")
    if not value:
        return False
    address = _address(value)
    if address is None:
        log.warning("NOTIFY_SOCKET=%r: unsupported address, not notifying", value)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.settimeout(_SEND_TIMEOUT_S)
            sock.sendto(message.encode(), address)
    except OSError as exc:
        log.warning("sd_notify %r to %r failed: %s", message, value, exc)
        return False
    return True


def ready() -> bool:
    """Startup finished: systemd starts units ordered after this one."""
    return notify("READY=1")


def stopping() -> bool:
    """Graceful stop begun (so systemd does not mistake the shutdown for a hang)."""
    return notify("STOPPING=1")


def watchdog() -> bool:
    """Keep-alive ping; send every `watchdog_interval_s()` seconds."""
    return notify("WATCHDOG=1")


def status(text: str) -> bool:
    """One-line state shown by `systemctl status`."""
    # The protocol is newline-separated KEY=value: a newline would end the status.
    return notify("STATUS=" + " ".join(text.splitlines()))


def watchdog_interval_s() -> float | None:
    """How often to send WATCHDOG=1, in seconds, or None when no watchdog is asked for.

    Half of WATCHDOG_USEC, as sd_watchdog_enabled(3) recommends. WATCHDOG_PID, when
    set, names the process the watchdog is meant for: a child that inherited the
    environment must not ping on the daemon's behalf.
    """
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = os.environ.get("WATCHDOG_PID")
    try:
        if pid and int(pid) != os.getpid():
            return None
        interval_us = int(usec)
    except ValueError:
        log.warning("ignoring malformed WATCHDOG_USEC=%r / WATCHDOG_PID=%r", usec, pid)
        return None
    if interval_us <= 0:
        return None
    return interval_us / 2 / 1_000_000
