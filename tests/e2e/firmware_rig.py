"""What the firmware e2e tests of both versions share: a firmware image served over local
HTTP, signed by a throw-away maker whose root the station trusts (firmware.trust_anchor),
and a station configured with `firmware: {installer: sim}`."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devcsms import Csms
from tests.updates.maker import Maker, make_maker
from tests.updates.servers import Site, http_server

from .conftest import Station, calls, wait_until


def iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def image(tmp_path: Path, name: str = "chargerd-fw-2.7.1.bin", size: int = 300_000) -> Path:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path


def with_firmware(station: Station, maker: Maker | None = None) -> Maker:
    """Configure `station` to install with the sim installer and to trust `maker`."""
    maker = maker or make_maker()
    anchor = station.dir / "maker-root.pem"
    anchor.write_text(maker.root_pem)
    plain = station.config

    def config() -> dict[str, Any]:
        return {**plain(), "firmware": {"installer": "sim", "trust_anchor": str(anchor)}}

    station.config = config  # type: ignore[method-assign]
    return maker


FINAL = {"Installed", "InstallationFailed", "InstallVerificationFailed", "DownloadFailed",
         "InvalidSignature"}  # fmt: skip


def statuses(
    csms: Csms, after: int, action: str = "FirmwareStatusNotification",
    request_id: int | None = None,
) -> list[str]:  # fmt: skip
    """The statuses of `action` the station sent from ledger index `after` on (of one
    requestId when given)."""
    return [
        e.payload["status"]
        for e in calls(csms, action, after)
        if request_id is None or e.payload.get("requestId") == request_id
    ]


async def until_final(
    csms: Csms, after: int, action: str = "FirmwareStatusNotification", timeout: float = 20
) -> list[str]:
    """Wait for a final status of `action`; every status sent from `after` on."""
    await wait_until(lambda: bool(set(statuses(csms, after, action)) & FINAL),
                     f"a final {action}", timeout)  # fmt: skip
    return statuses(csms, after, action)


def update16(location: str, *, at: float | None = None, **more: Any) -> dict[str, Any]:
    """A 1.6 UpdateFirmware.req, to retrieve at `at` (now when not given)."""
    return {"location": location, "retrieveDate": iso(time.time() if at is None else at), **more}


@contextmanager
def hanging_url() -> Iterator[str]:
    """An HTTP URL whose server accepts connections and never answers: an upload there hangs."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        yield f"http://127.0.0.1:{silent.getsockname()[1]}/"


@dataclass
class Offer:
    """A firmware image served over local HTTP to a started station with the sim installer."""

    image: Path
    site: Site
    port: int
    maker: Maker  # the one the station trusts
    mark: int  # the ledger's length once the station is up: what follows is the update's

    def location(self) -> str:
        return self.site.url(self.port, "/" + self.image.name)

    def gets(self) -> list[tuple[str, str, str | None]]:
        return [r for r in self.site.requests if r[0] == "GET"]


@asynccontextmanager
async def offered(
    csms: Csms, station: Station, tmp_path: Path, name: str, *, drop_after: int | None = None
) -> AsyncIterator[Offer]:
    """Serve image `name` at /`name` (hanging up once after `drop_after` bytes when given),
    configure the station for firmware updates and start it."""
    maker = with_firmware(station)
    fw = image(tmp_path, name)
    path = "/" + name
    site = Site(files={path: fw.read_bytes()},
                drop_after={path: drop_after} if drop_after is not None else {})  # fmt: skip
    with http_server(site) as port:
        await station.start()
        yield Offer(fw, site, port, maker, len(csms.ledger.entries))
