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
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidMessage, InvalidStatus

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


class LinkSecurity(Protocol):
    """Credentials and TLS of each attempt (chargerd.security.part.SecurityPart): a plan
    has `.ssl` and `.headers`; the outcome of the attempt is reported back."""

    def plan(self, url: str) -> Any: ...

    def connected(self, plan: Any) -> None: ...

    def failed(self, plan: Any | None, exc: BaseException) -> None: ...


def station_url(base: str, station_id: str) -> str:
    return base.rstrip("/") + "/" + station_id


SCHEME = "check the URL scheme in csms.url (ws:// plain, wss:// TLS)"


def describe_failure(exc: BaseException, url: str) -> str:
    """Why connecting to the CSMS failed, and what in the configuration to check."""
    tls = url.startswith("wss://")
    if isinstance(exc, InvalidStatus):
        code = exc.response.status_code
        if code == 401:
            return "the CSMS refused the login (HTTP 401): check csms.password and station.id"
        if code == 403:
            return "the CSMS refused this station (HTTP 403): check station.id and csms.password"
        if code == 404:
            return (
                "no OCPP endpoint at this URL (HTTP 404): check the path of csms.url "
                "(the station id is appended to it)"
            )
        return (
            f"the server answered HTTP {code} {exc.response.reason_phrase} instead of opening a "
            "websocket: check that csms.url is the CSMS's OCPP endpoint (scheme, port, path)"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the CSMS's certificate is not trusted ({exc.verify_message}): check csms.ca_file"
    if tls and isinstance(exc, (ssl.SSLError, ConnectionResetError, EOFError)):
        # A plain HTTP server answers a TLS hello with an HTTP error or by hanging up.
        return f"the TLS handshake failed ({exc or type(exc).__name__}): {SCHEME}"
    if isinstance(exc, InvalidMessage) and not tls:
        # A TLS server does not answer a plain HTTP request: it hangs up or sends binary.
        return f"no HTTP answer (the server may expect TLS): {SCHEME}"
    if isinstance(exc, InvalidHandshake):
        return f"websocket handshake failed ({exc}): check csms.url"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused: nothing listens at the host and port of csms.url"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host of csms.url ({exc.strerror}): check the URL and DNS"
    if isinstance(exc, TimeoutError):
        return "no answer in time: check that the host of csms.url is reachable"
    return f"{type(exc).__name__}: {exc}"


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
        self.security: LinkSecurity | None = None  # else settings.password and ca_file
        self._ws: ClientConnection | None = None
        self._now = asyncio.Event()  # reconnect without waiting

    def reconnect(self) -> None:
        """Close the connection (if any) and connect again at once: new credentials."""
        self._now.set()
        if self._ws is not None:
            asyncio.get_running_loop().create_task(self._ws.close(1000, "reconnecting"))

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
            self._now.clear()
            plan = None
            try:
                # a new TLS context per attempt: installed roots and certificates apply
                plan = self.security.plan(s.url) if self.security else None
                async with connect(
                    s.url,
                    subprotocols=[s.subprotocol],  # type: ignore[list-item]
                    additional_headers=plan.headers if plan else self._headers(),
                    ssl=plan.ssl if plan else self._ssl(),
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
                        if failures:
                            log.info("connected after %d failed attempt(s)", failures)
                        failures = 0
                        self.last_error = None
                        self.state = "connected"
                        self.connected_since = asyncio.get_running_loop().time()
                        log.info("connected to %s (%s)", s.url, s.subprotocol)
                        if self.security is not None:
                            self.security.connected(plan)
                        self._ws = ws
                        if self._now.is_set():  # credentials changed while connecting
                            self.reconnect()
                        try:
                            await self._serve(ws)
                        finally:
                            self._ws = None
                        log.warning("connection to the CSMS closed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any network or handshake failure: try again later
                error = describe_failure(exc, s.url)
                # Once per kind of failure, not at every retry of an unplugged cable.
                level = logging.DEBUG if error == self.last_error else logging.WARNING
                self.last_error = error
                log.log(level, "cannot connect to %s: %s", s.url, error)
                if self.security is not None:
                    self.security.failed(plan, exc)
            self.connected_since = None
            failures += 1
            delay = backoff_delay(failures, s.reconnect_min_s, s.reconnect_max_s)
            self.state = "waiting"
            log.debug("reconnecting in %.1f s", delay)
            try:  # new credentials do not wait for the back-off
                async with asyncio.timeout(0 if self._now.is_set() else delay):
                    await self._now.wait()
            except TimeoutError:
                pass

    async def _serve(self, ws: ClientConnection) -> None:
        try:
            await self._on_open(ws)
        except asyncio.CancelledError:
            # The daemon is stopping (or resetting): say so with 1001 "going away";
            # leaving it to the context manager would close with 1011, an error.
            await ws.close(1001, "station stopping")
            raise
