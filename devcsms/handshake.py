"""A station's websocket opening handshake: its id from the URL path, the subprotocols it
offered, Basic auth (security profile 1) and whether the CSMS lets it in."""

from __future__ import annotations

import hmac
import http
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from websockets.exceptions import InvalidHeader
from websockets.headers import parse_authorization_basic
from websockets.http11 import Request


@dataclass
class Handshake:
    """What a station's websocket opening handshake looked like."""

    station_id: str
    path: str
    offered_subprotocols: list[str]
    authorization: str | None  # the raw Authorization header
    username: str | None = None  # from Basic auth, when parseable
    status: int = 101  # HTTP status answered (101 = accepted)
    subprotocol: str | None = None  # negotiated; None = none (the CSMS then closes, 1002)
    remote: str | None = None
    client_cert: dict | None = None  # TLS client certificate (ssl's getpeercert() form)


def station_id_from_path(path: str) -> str:
    """The last segment of the URL path (OCPP-J appends the station id to the CSMS URL)."""
    return unquote(urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1])


def read_handshake(request: Request, remote: tuple | None) -> tuple[Handshake, str | None]:
    """The handshake of `request`, and the Basic auth password when there is one."""
    offered = [
        p.strip()
        for value in request.headers.get_all("Sec-WebSocket-Protocol")
        for p in value.split(",")
        if p.strip()
    ]
    authorization = request.headers.get("Authorization")
    handshake = Handshake(
        station_id=station_id_from_path(request.path),
        path=request.path,
        offered_subprotocols=offered,
        authorization=authorization,
        remote=f"{remote[0]}:{remote[1]}" if remote else None,
    )
    password = None
    if authorization is not None:
        try:
            handshake.username, password = parse_authorization_basic(authorization)
        except InvalidHeader:
            pass
    return handshake, password


def refusal(
    handshake: Handshake, password: str | None, required: str | None
) -> tuple[http.HTTPStatus, str] | None:
    """Why the CSMS refuses the connection (HTTP status, reason), or None to let it in.

    `required` is the CSMS's password (None: no Basic auth); the user must be the station id.
    """
    if not handshake.station_id:
        return http.HTTPStatus.NOT_FOUND, "no station id in the URL path"
    if required is None:
        return None
    reason = None
    if handshake.authorization is None:
        reason = "missing Basic credentials"
    elif handshake.username is None or password is None:
        reason = "unsupported Authorization header"
    elif handshake.username != handshake.station_id or not hmac.compare_digest(
        password.encode(errors="surrogateescape"), required.encode(errors="surrogateescape")
    ):
        reason = "invalid credentials"
    return (http.HTTPStatus.UNAUTHORIZED, reason) if reason is not None else None
