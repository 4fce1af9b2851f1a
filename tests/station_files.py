"""Station files for configuration tests: the fixed head, the connectors a test gives."""

from __future__ import annotations

import textwrap
from pathlib import Path


def station_yaml(tmp_path: Path, connectors: str, top: str = "") -> Path:
    """A station file with these connectors (YAML list items, indented by two), `top`
    (whole sections) before them."""
    text = textwrap.dedent(
        f"""\
        station: {{id: CP-TEST}}
        csms: {{url: "ws://127.0.0.1:9/ocpp"}}
        storage: {{dir: {tmp_path / "state"}}}
        control: {{socket: {tmp_path / "ctl.sock"}}}
        """
    )
    text += top + "connectors:\n" + textwrap.indent(textwrap.dedent(connectors), "  ")
    path = tmp_path / "station.yaml"
    path.write_text(text)
    return path
