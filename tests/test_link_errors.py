"""The link says what to check when the CSMS cannot be reached, and closes politely.

Every peer is a real server on 127.0.0.1: a websocket server that refuses the login, a
TLS server, a plain HTTP server, a websocket server that records the close code.
"""

from __future__ import annotations

import asyncio
import http
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from chargerd.link import Link, LinkSettings

WAIT_S = 10.0


def settings(url: str, **options: object) -> LinkSettings:
    return LinkSettings(
        url=url, station_id="CP-1", subprotocol="ocpp1.6", open_timeout_s=3,
        reconnect_min_s=0.05, reconnect_max_s=0.2, **options,  # type: ignore[arg-type]
    )  # fmt: skip


async def never_returns(ws: object) -> None:
    await asyncio.Event().wait()


@asynccontextmanager
async def running(link: Link) -> AsyncIterator[Link]:
    task = asyncio.create_task(link.run())
    try:
        yield link
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def first_error(url: str, **options: object) -> str:
    link = Link(settings(url, **options), never_returns)
    async with running(link):
        async with asyncio.timeout(WAIT_S):
            while link.last_error is None:
                await asyncio.sleep(0.01)
    return link.last_error


def port_of(server: asyncio.Server) -> int:
    return server.sockets[0].getsockname()[1]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def tcp_server(handle: Callable[..., Awaitable[None]], **kwargs: object) -> asyncio.Server:
    return await asyncio.start_server(handle, "127.0.0.1", 0, **kwargs)  # type: ignore[arg-type]


async def test_a_refused_login_says_to_check_the_password_and_station_id() -> None:
    def deny(connection: ServerConnection, request: object) -> object:
        return connection.respond(http.HTTPStatus.UNAUTHORIZED, "who are you?\n")

    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, process_request=deny) as server:
        port = server.sockets[0].getsockname()[1]
        error = await first_error(f"ws://127.0.0.1:{port}/ocpp/CP-1", password="wrong")
    assert "HTTP 401" in error
    assert "check csms.password and station.id" in error


async def test_ws_to_a_tls_port_says_to_check_the_scheme(certificate: tuple[Path, Path]) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await tcp_server(hang_up, ssl=context)
    async with server:
        error = await first_error(f"ws://127.0.0.1:{port_of(server)}/ocpp/CP-1")
    assert "check the URL scheme" in error


async def test_wss_to_a_plain_port_says_to_check_the_scheme() -> None:
    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        error = await first_error(f"wss://127.0.0.1:{port}/ocpp/CP-1")
    assert "TLS handshake failed" in error
    assert "check the URL scheme" in error


async def test_a_plain_http_server_is_not_taken_for_a_websocket() -> None:
    async def web_page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        await writer.drain()
        writer.close()

    server = await tcp_server(web_page)
    async with server:
        error = await first_error(f"ws://127.0.0.1:{port_of(server)}/ocpp/CP-1")
    assert "HTTP 200" in error and "instead of opening a websocket" in error


async def test_an_untrusted_certificate_points_at_the_ca_file(
    certificate: tuple[Path, Path],
) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, ssl=context) as server:
        port = server.sockets[0].getsockname()[1]
        error = await first_error(f"wss://127.0.0.1:{port}/ocpp/CP-1")
    assert "certificate is not trusted" in error and "csms.ca_file" in error


async def test_a_stopping_station_closes_with_going_away_not_an_error() -> None:
    codes: list[int | None] = []
    closed = asyncio.Event()

    async def record(ws: ServerConnection) -> None:
        await ws.wait_closed()
        codes.append(ws.close_code)
        closed.set()

    async with serve(record, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        port = server.sockets[0].getsockname()[1]
        link = Link(settings(f"ws://127.0.0.1:{port}/ocpp/CP-1"), never_returns)
        async with running(link):
            async with asyncio.timeout(WAIT_S):
                while link.state != "connected":
                    await asyncio.sleep(0.01)
        async with asyncio.timeout(WAIT_S):
            await closed.wait()
    assert codes == [1001]
