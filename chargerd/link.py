"""The websocket to the CSMS: subprotocol, Basic auth, TLS, ping, reconnect with back-off.

The link never gives up: after a failure it waits (doubling, with jitter, up to a cap)
and tries again. Each open connection is handed to `on_open`, which runs until the
connection closes.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection, connect

log = logging.getLogger("chargerd.link")


@dataclass
class LinkSettings:
    url: str  # with the station id appended
    station_id: str
    subprotocol: str  # "ocpp1.6" or "ocpp2.0.1"
    password: str | None = None
    ca_file: str | None = None
    ping_interval_s: Callable[[], float] = lambda: 30.0  # read at each connection
    open_timeout_s: float = 10
    reconnect_min_s: float = 1
    reconnect_max_s: float = 60


def station_url(base: str, station_id: str) -> str:
    return base.rstrip("/") + "/" + station_id


def backoff_delay(failures: int, minimum: float, maximum: float) -> float:
    """Wait before reconnect attempt number `failures` (1-based): exponential, jittered."""
    ceiling = min(maximum, minimum * 2 ** max(0, failures - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class Link:
    def __init__(
        self,
        settings: LinkSettings,
        on_open: Callable[[ClientConnection], Awaitable[None]],
    ):
        self.settings = settings
        self._on_open = on_open
        self.state = "connecting"  # connecting, connected, waiting
        self.last_error: str | None = None
        self.connected_since: float | None = None

    def _headers(self) -> dict[str, str]:
        s = self.settings
        if not s.password:
            return {}
        token = base64.b64encode(f"{s.station_id}:{s.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def _ssl(self) -> ssl.SSLContext | None:
        if not self.settings.url.startswith("wss://"):
            return None
        return ssl.create_default_context(cafile=self.settings.ca_file)

    async def run(self) -> None:
        """Connect, serve, reconnect — until cancelled."""
        s = self.settings
        failures = 0
        while True:
            self.state = "connecting"
            try:
                async with connect(
                    s.url,
                    subprotocols=[s.subprotocol],  # type: ignore[list-item]
                    additional_headers=self._headers(),
                    ssl=self._ssl(),
                    open_timeout=s.open_timeout_s,
                    ping_interval=s.ping_interval_s() or None,
                    ping_timeout=s.ping_interval_s() or None,
                    proxy=None,
                    max_size=2**22,
                ) as ws:
                    if ws.subprotocol != s.subprotocol:
                        self.last_error = (
                            f"the CSMS did not accept subprotocol {s.subprotocol} "
                            f"(chose {ws.subprotocol!r})"
                        )
                        log.error("%s; closing", self.last_error)
                        await ws.close(1002, "subprotocol required")
                    else:
                        failures = 0
                        self.last_error = None
                        self.state = "connected"
                        self.connected_since = asyncio.get_running_loop().time()
                        log.info("connected to %s (%s)", s.url, s.subprotocol)
                        await self._on_open(ws)
                        log.warning("connection to the CSMS closed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any network or handshake failure: try again later
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("cannot connect to %s: %s", s.url, self.last_error)
            self.connected_since = None
            failures += 1
            delay = backoff_delay(failures, s.reconnect_min_s, s.reconnect_max_s)
            self.state = "waiting"
            log.info("reconnecting in %.1f s", delay)
            await asyncio.sleep(delay)
