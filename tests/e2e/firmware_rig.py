"""What the firmware e2e tests of both versions share: a firmware image served over local
HTTP, signed by a throw-away maker whose root the station trusts (firmware.trust_anchor),
and a station configured with `firmware: {installer: sim}`."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from tests.updates.maker import Maker, make_maker

from .conftest import Station


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
