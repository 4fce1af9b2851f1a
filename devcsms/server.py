"""The websocket side of a development CSMS, the same for both OCPP versions.

`CsmsServer` listens on a `websockets.asyncio.server`, picks the session class by the
subprotocol the station offers (`protocols`, in order of preference), records every frame
and connection event in the ledger, and gives tests their knobs (`boot_status`, `auth`,
`fail_next`, ...), `call`, `send_raw` and `disconnect`; recording into the ledger and the
`wait_for` family come from its base, `Recording` (recording.py). The version modules
subclass it with their sessions and ledger (v16.Csms, v201.Csms201). Everything runs on
one asyncio loop.
"""

from __future__ import annotations

import asyncio
import http
import logging
import ssl as ssl_module
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.frames import CloseCode
from websockets.headers import build_www_authenticate_basic
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from .handshake import Handshake, read_handshake, refusal, station_id_from_path
from .recording import Recording
from .session import Session, StationMemory

log = logging.getLogger("chargerd.csms")  # the name soak and bench configure

FAIL_MODES = ("error", "silent", "drop_answer")


def server_tls(cert: str, key: str | None, client_ca: str | None) -> ssl_module.SSLContext:
    """A TLS 1.2+ server context; with `client_ca` stations must present a certificate
    it issued (mutual TLS, security profile 3)."""
    context = ssl_module.SSLContext(ssl_module.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl_module.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca:
        context.verify_mode = ssl_module.CERT_REQUIRED
        context.load_verify_locations(cafile=client_ca)
    return context


class CsmsServer(Recording):
    """OCPP Central System on one asyncio loop; see the module docstring."""

    #: websocket subprotocol → session class, in order of preference
    protocols: Mapping[str, type[Session]] = {}

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        password: str | None = None,
        heartbeat_interval: int = 300,
        boot_status: str = "Accepted",
        boot_interval: int = 300,
        on_message: Callable[[str, str, str, Any], None] | None = None,
        close_timeout: float = 2.0,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        super().__init__(on_message)
        self.host = host
        self.ssl = ssl  # serve wss:// (security profiles 2 and 3) with this server context
        self.port = port
        self.password = password
        self.heartbeat_interval = heartbeat_interval
        self.boot_status = boot_status
        self.boot_interval = boot_interval
        self.close_timeout = close_timeout
        self.auth: dict[str, str] = {}
        self.unknown_tags_status = "Accepted"
        self.protocols = dict(type(self).protocols)
        self.handshakes: dict[str, Handshake] = {}  # latest per station id
        self.handshake_log: list[Handshake] = []
        self._server: Server | None = None
        self._sessions: dict[str, Session] = {}
        self._memory: dict[str, StationMemory] = {}
        self._serial = 0
        self._failures: list[tuple[str, str | None, str]] = []  # (action, station, mode)
        self._pending_handshakes: dict[int, Handshake] = {}
        self._background: set[asyncio.Task] = set()

    # ---- lifecycle

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "wss" if self.ssl is not None else "ws"
        return f"{scheme}://{host}:{self.port}/ocpp"

    @property
    def connected(self) -> set[str]:
        return set(self._sessions)

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        """Listen on host:port (port 0: a free one, kept for later restarts)."""
        if self._server is not None:
            raise RuntimeError("Csms already started")
        self._server = await serve(
            self._handle_connection,
            self.host,
            self.port,
            subprotocols=[Subprotocol(p) for p in self.protocols],
            select_subprotocol=self._select_subprotocol,
            process_request=self._process_request,
            close_timeout=self.close_timeout,
            ssl=self.ssl,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("CSMS listening on %s (stations connect to %s/<station-id>)", self.url, self.url)

    async def stop(self, *, abrupt: bool = False) -> None:
        """Close all connections (1001 going away; `abrupt`: drop TCP without a close
        frame) and the listening socket. start() again listens on the same port."""
        server, self._server = self._server, None
        if server is None:
            return
        if abrupt:
            for session in list(self._sessions.values()):
                session.ws.transport.abort()
        server.close()
        await server.wait_closed()
        for task in list(self._background):
            task.cancel()
        log.info("CSMS on port %s stopped", self.port)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- knobs

    def id_tag_status(self, id_tag: str) -> str:
        return self.auth.get(id_tag, self.unknown_tags_status)

    def fail_next(
        self, action: str, count: int = 1, mode: str = "error", *, station_id: str | None = None
    ) -> None:
        """Fail the next `count` received CALLs of `action` (of any station, or one).

        mode "error": answer CALLERROR InternalError (nothing is processed);
        "silent": never answer (nothing is processed; the station must time out);
        "drop_answer": process it normally but never send the answer (the answer is
        'lost', so the station's retry is a legitimate duplicate).
        Calls queue up: fail_next("X", 1, "silent"); fail_next("X") fails the next X
        silently, the one after with an error.
        """
        if mode not in FAIL_MODES:
            raise ValueError(f"mode must be one of {FAIL_MODES}, not {mode!r}")
        self._failures.extend([(action, station_id, mode)] * count)

    def clear_failures(self) -> None:
        self._failures.clear()

    def take_failure(self, station_id: str, action: str) -> str | None:
        """The fail_next mode for this CALL (used up), or None to handle it normally."""
        for i, (fail_action, fail_station, mode) in enumerate(self._failures):
            if fail_action == action and fail_station in (None, station_id):
                del self._failures[i]
                return mode
        return None

    def memory(self, station_id: str) -> StationMemory:
        """What the CSMS remembers of a station across its connections."""
        return self._memory.setdefault(station_id, StationMemory())

    # ---- talking to stations

    def _session(self, station_id: str) -> Session:
        try:
            return self._sessions[station_id]
        except KeyError:
            raise ConnectionError(
                f"station {station_id!r} is not connected (connected: {sorted(self._sessions)})"
            ) from None

    async def call(self, station_id: str, action: str, payload: dict, timeout: float = 10) -> dict:
        """Send a CALL (camelCase payload) and return the CALLRESULT payload.

        Raises CallErrorReceived on CALLERROR, TimeoutError without an answer,
        ConnectionError when the station is not connected or disconnects meanwhile, and
        the ocpp schema error when our payload or the station's answer is invalid (the
        latter is also recorded as a violation). Must not be awaited by on_message.
        """
        return await self._session(station_id).call_action(action, payload, timeout)

    async def send_raw(self, station_id: str, text: str, timeout: float = 5) -> list | None:
        """Send any text frame; return the next CALLRESULT/CALLERROR frame the station
        sends that answers no call() in progress (parsed JSON), or None after timeout."""
        return await self._session(station_id).calls.send_raw(text, timeout)

    async def disconnect(
        self, station_id: str, *, abrupt: bool = False, code: int = CloseCode.GOING_AWAY
    ) -> None:
        """Close that station's websocket (close frame `code`; `abrupt`: just drop TCP)
        and wait until the CSMS has forgotten the connection."""
        session = self._session(station_id)
        if abrupt:
            session.ws.transport.abort()
        else:
            await session.ws.close(code, "disconnected by the CSMS")
        try:
            async with asyncio.timeout(self.close_timeout + 1):
                await session.closed.wait()
                while self._sessions.get(station_id) is session:
                    await self._changed.wait()
        except TimeoutError:
            log.warning("%s: connection did not finish closing", station_id)

    # ---- websocket server

    def _select_subprotocol(
        self, connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        # OCPP-J: without a common subprotocol complete the handshake without one and
        # close right after (websockets' default would answer HTTP 400 instead).
        for subprotocol in self.protocols:
            if subprotocol in offered:
                return Subprotocol(subprotocol)
        return None

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        hs, password = read_handshake(request, connection.remote_address)
        if self.ssl is not None:
            # profile 3: the client certificate the station presented (None without one)
            hs.client_cert = connection.transport.get_extra_info("peercert") or None
        self.handshakes[hs.station_id] = hs
        self.handshake_log.append(hs)
        # profile 3: a client certificate the TLS handshake verified stands for the password
        refused = refusal(hs, password, None if hs.client_cert else self.password)
        if refused is None:
            self._pending_handshakes[id(connection)] = hs
            return None
        status, reason = refused
        hs.status = int(status)
        response = connection.respond(status, reason + "\n")
        if status == http.HTTPStatus.UNAUTHORIZED:
            response.headers["WWW-Authenticate"] = build_www_authenticate_basic("chargerd-csms")
        self.record(hs.station_id, "-", "rejected", "", {"status": int(status), "reason": reason})
        return response

    async def _handle_connection(self, ws: ServerConnection) -> None:
        hs = self._pending_handshakes.pop(id(ws), None)
        path = ws.request.path if ws.request else ""
        station_id = hs.station_id if hs else station_id_from_path(path)
        subprotocol = ws.subprotocol
        if hs is not None:
            hs.subprotocol = subprotocol
        session_cls = self.protocols.get(subprotocol) if subprotocol else None
        if session_cls is None:
            offered = hs.offered_subprotocols if hs else []
            self.violation(
                station_id,
                f"offered no supported subprotocol (offered {offered}, "
                f"supported {list(self.protocols)}); closed with 1002",
            )
            self.record(station_id, "-", "rejected", "", {"subprotocol": None, "code": 1002})
            await ws.close(
                CloseCode.PROTOCOL_ERROR, f"unsupported subprotocol; use {list(self.protocols)}"
            )
            return
        self._serial += 1
        session = session_cls(self, station_id, ws, self._serial)
        old = self._sessions.get(station_id)
        self._sessions[station_id] = session
        self.record(
            station_id,
            "-",
            "connect",
            "",
            {"subprotocol": subprotocol, "remote": hs.remote if hs else None},
        )
        if old is not None:
            log.warning("%s: new connection replaces the previous one", station_id)
            task = asyncio.create_task(old.ws.close(CloseCode.NORMAL_CLOSURE, "replaced"))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        try:
            await session.run()
        finally:
            if self._sessions.get(station_id) is session:
                del self._sessions[station_id]
            self.record(
                station_id,
                "-",
                "disconnect",
                "",
                {"code": ws.close_code, "reason": ws.close_reason},
            )
