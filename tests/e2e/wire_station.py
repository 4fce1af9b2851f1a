"""The YAML of a station whose connectors are OpenEVSE controllers on the wire simulator
(`sim.wire`: RAPI over ptys), for tests that run the daemon in their own process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .conftest import STATION_ID

NO_CSMS = "ws://127.0.0.1:9/ocpp"  # nothing listens there: free charging needs none


def wire_station(
    tmp_path: Path, connectors: int = 1, csms_url: str = NO_CSMS, **sections: Any
) -> Path:
    """Write station.yaml in `tmp_path`: `connectors` RAPI controllers (/dev/ttyAMA1, 2, ...)
    and the other `sections` as given; its path."""
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump({
        "station": {"id": STATION_ID, "vendor": "v", "model": "m"},
        "csms": {"url": csms_url, "ocpp_version": "1.6"},
        "storage": {"dir": str(tmp_path / "state")},
        "control": {"socket": str(tmp_path / "ctl.sock")},
        "hal": {"driver": "sim"},
        "sim": {"wire": True},
        **sections,
        "connectors": [
            {"id": n, "max_current_a": 32, "phases": 3,
             "controller": {"driver": "rapi", "port": f"/dev/ttyAMA{n}"}}
            for n in range(1, connectors + 1)
        ],
    }, sort_keys=False))  # fmt: skip
    return path
