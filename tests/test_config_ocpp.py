"""The `ocpp:` block across OCPP versions: config/sim-201.yaml, and a block written in the
other version's form answered with the same block in the right form."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from chargerd.config import ConfigError, load_config
from chargerd.config.ocpp import TO_201
from chargerd.ocpp16.keys import BY_NAME
from chargerd.ocpp16.keys import check_initial_value as check_16
from chargerd.ocpp201.variables import check_initial_value as check_201

REPO = Path(__file__).resolve().parents[1]
SIM = REPO / "config" / "sim.yaml"
SIM_201 = REPO / "config" / "sim-201.yaml"

HEAD = """\
station: {id: CP-001}
csms:
  url: ws://127.0.0.1:9000/ocpp
  ocpp_version: "%s"
connectors:
  - id: 1
ocpp:
"""


def errors(path: str | Path, overrides: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides)
    return caught.value.errors


def suggested_block(line: str) -> str:
    """The one-line YAML mapping an error offers as the right form."""
    match = re.search(r"(?:component → variable|Key: value): (\{.*\})$", line)
    assert match, line
    return match.group(1)


def test_sim_201_yaml_loads_with_its_device_model_values() -> None:
    config = load_config(SIM_201)
    assert config.csms.ocpp_version == "2.0.1"
    assert config.ocpp == {
        "OCPPCommCtrlr": {"HeartbeatInterval": 300},
        "SampledDataCtrlr": {"TxUpdatedInterval": 60},
    }
    assert config.connectors == load_config(SIM).connectors


def test_check_config_accepts_sim_201_yaml() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chargerd", "check-config", "config/sim-201.yaml"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert "OK — OCPP 2.0.1" in result.stdout


def test_every_key_mapping_names_a_key_and_a_variable_the_station_has() -> None:
    for key, (component, variable) in TO_201.items():
        value = BY_NAME[key].default  # same meaning, so the same value fits both
        assert check_16(key, value) is None, key
        assert check_201(component, variable, value) is None, (key, component, variable)


def test_switching_sim_yaml_to_201_shows_the_block_in_201_form() -> None:
    (line,) = errors(SIM, ("csms.ocpp_version=2.0.1",))
    ocpp_line = SIM.read_text().splitlines().index("ocpp:") + 1
    assert line == (
        f"{SIM}:{ocpp_line}: ocpp: the block is in OCPP 1.6 form (Key: value), but "
        "csms.ocpp_version is '2.0.1'; allowed: the 2.0.1 form, component → variable: "
        "{OCPPCommCtrlr: {HeartbeatInterval: 300}, SampledDataCtrlr: {TxUpdatedInterval: 60}}"
    )


def test_the_offered_201_form_loads_as_written(tmp_path: Path) -> None:
    path = tmp_path / "station.yaml"
    block = """\
  HeartbeatInterval: 120
  MeterValuesSampledData: Energy.Active.Import.Register,Voltage
  LocalPreAuthorize: true
  ConnectionTimeOut: 90
"""
    path.write_text(HEAD % "2.0.1" + block)
    (line,) = errors(path)
    path.write_text((HEAD % "2.0.1").replace("ocpp:\n", f"ocpp: {suggested_block(line)}\n"))
    assert load_config(path).ocpp == {
        "OCPPCommCtrlr": {"HeartbeatInterval": 120},
        "SampledDataCtrlr": {"TxUpdatedMeasurands": "Energy.Active.Import.Register,Voltage"},
        "AuthCtrlr": {"LocalPreAuthorize": True},
        "TxCtrlr": {"EVConnectionTimeOut": 90},
    }


def test_a_16_key_without_a_201_counterpart_gets_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "station.yaml"
    path.write_text(HEAD % "2.0.1" + "  HeartbeatInterval: 300\n  ConnectorPhaseRotation: 0.RST\n")
    block, key = errors(path)
    assert block.startswith(f"{path}:7: ocpp: the block is in OCPP 1.6 form")
    assert block.endswith("component → variable: {OCPPCommCtrlr: {HeartbeatInterval: 300}}")
    assert key.startswith(f"{path}:9: ocpp.ConnectorPhaseRotation: an OCPP 1.6 key with no ")


def test_a_201_block_under_16_shows_the_block_in_16_form(tmp_path: Path) -> None:
    path = tmp_path / "station.yaml"
    block = """\
  OCPPCommCtrlr:
    HeartbeatInterval: 120
    MessageAttempts:TransactionEvent: 5
  SampledDataCtrlr: {TxUpdatedInterval: 30}
  OfflineThreshold: 60
"""
    path.write_text(HEAD % "1.6" + block)
    problems = errors(path)
    assert problems[0] == (
        f"{path}:7: ocpp: the block is in OCPP 2.0.1 form (component → variable), but "
        "csms.ocpp_version is '1.6'; allowed: the 1.6 form, Key: value: "
        "{HeartbeatInterval: 120, TransactionMessageAttempts: 5, MeterValueSampleInterval: 30}"
    )
    # a scalar under a name that is no 1.6 key is still an unknown key, on its own line
    assert problems[1].startswith(f"{path}:12: ocpp.OfflineThreshold: unknown OCPP 1.6 ")
    assert len(problems) == 2


def test_the_offered_16_form_loads_as_written(tmp_path: Path) -> None:
    path = tmp_path / "station.yaml"
    path.write_text(HEAD % "1.6" + "  AuthCtrlr: {AuthorizeRemoteStart: false}\n")
    (line,) = errors(path)
    path.write_text((HEAD % "1.6").replace("ocpp:\n", f"ocpp: {suggested_block(line)}\n"))
    assert load_config(path).ocpp == {"AuthorizeRemoteTxRequests": False}


def test_a_201_variable_without_a_16_counterpart_gets_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "station.yaml"
    path.write_text(HEAD % "1.6" + "  OCPPCommCtrlr:\n    OfflineThreshold: 60\n")
    block, variable = errors(path)
    assert block.endswith("allowed: the 1.6 form, Key: value, e.g. {HeartbeatInterval: 300}")
    assert variable.startswith(f"{path}:9: ocpp.OCPPCommCtrlr.OfflineThreshold: an OCPP 2.0.1 ")
