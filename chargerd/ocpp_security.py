"""What the OCPP security messages of both versions (ocpp16/security.py,
ocpp201/security.py) share in how they reach the daemon's security part."""

from __future__ import annotations

import asyncio
from typing import Any

RECONNECT_AFTER_S = 0.05  # the answer to the CSMS goes out before the connection is replaced
ONLINE_POLL_S = 1.0  # a renewal waits for the CSMS this often: no hurry, days are left


def security_part(adapter: Any) -> Any | None:
    """The daemon's security part (chargerd/security/part.py), None before it exists."""
    runtime = getattr(adapter, "rt", None)
    return runtime.parts.get("security") if runtime is not None else None


def reconnect_for_certificate(part: Any) -> None:
    """A new station certificate is used from the next connection; on profile 3 (it is what
    the station logs in with) that connection starts now, after the answer has gone."""
    credentials = part.credentials
    if credentials.profile != 3:
        return

    def reconnect() -> None:
        for hook in credentials.changed:  # the link: a new connection with the new one
            hook()

    asyncio.get_running_loop().call_later(RECONNECT_AFTER_S, reconnect)


async def when_online(adapter: Any) -> None:
    """Until a connection is up and the CSMS has accepted the boot: a renewal found due at
    start-up (or while offline) waits for it rather than being lost until the next check."""
    while not (adapter.outbox.connected and adapter.registration == "Accepted"):
        await asyncio.sleep(ONLINE_POLL_S)
