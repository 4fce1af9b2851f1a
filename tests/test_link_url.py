"""csms.url is the base URL: chargerd appends station.id, so a URL ending in it is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargerd.config import ConfigError, load_config
from chargerd.link import station_url

CONFIG = """\
station: {{id: CP-001}}
csms:
  url: {url}
storage: {{dir: ./state}}
control: {{socket: ./ctl.sock}}
connectors:
  - {{id: 1, max_current_a: 32, phases: 3}}
"""


def write(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "station.yaml"
    path.write_text(CONFIG.format(url=url))
    return path


@pytest.mark.parametrize("url", ["ws://10.0.0.5:9000/ocpp/CP-001", "wss://csms.example/CP-001/"])
def test_a_url_ending_in_the_station_id_is_a_configuration_error(tmp_path: Path, url: str):
    path = write(tmp_path, url)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    [error] = raised.value.errors
    assert error.startswith(f"{path}:3: csms.url: ends with the station id 'CP-001'")
    assert "chargerd appends itself" in error


def test_the_station_id_as_an_earlier_segment_or_a_prefix_is_fine(tmp_path: Path):
    for url in ("ws://10.0.0.5:9000/CP-001/ocpp", "ws://10.0.0.5:9000/ocpp/CP-0011"):
        config = load_config(write(tmp_path, url))
        assert station_url(config.csms.url, config.station.id) == url + "/CP-001"


def test_an_override_of_the_station_id_is_checked_too(tmp_path: Path):
    path = write(tmp_path, "ws://10.0.0.5:9000/ocpp/CP-002")
    assert load_config(path).station.id == "CP-001"
    with pytest.raises(ConfigError, match="ends with the station id 'CP-002'"):
        load_config(path, ["station.id=CP-002"])
