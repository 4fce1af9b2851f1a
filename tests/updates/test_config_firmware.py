"""`firmware:` in the YAML: defaults, the installer command, the trust anchor."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargerd.config import ConfigError, load_config
from tests.updates.maker import make_maker

BASE = """\
station: {id: CP-1}
csms: {url: ws://127.0.0.1:9000/ocpp}
storage: {dir: %s}
control: {socket: %s}
connectors: [{id: 1, max_current_a: 32, phases: 3}]
"""


def write(tmp_path: Path, firmware: str) -> Path:
    file = tmp_path / "station.yaml"
    file.write_text(BASE % (tmp_path / "state", tmp_path / "ctl.sock") + firmware)
    return file


def errors(tmp_path: Path, firmware: str) -> str:
    with pytest.raises(ConfigError) as failed:
        load_config(write(tmp_path, firmware))
    return "\n".join(failed.value.errors)


def test_defaults_are_the_sim_installer_and_512_mb(tmp_path):
    config = load_config(write(tmp_path, ""))
    assert config.firmware.installer == "sim"
    assert config.firmware.max_size_mb == 512
    assert config.firmware.trust_anchor is None


def test_a_command_installer_with_a_trust_anchor(tmp_path):
    anchor = tmp_path / "maker-root.pem"
    anchor.write_text(make_maker().root_pem)
    text = (
        'firmware:\n  installer: command\n  command: "rauc install {file}"\n'
        f"  trust_anchor: {anchor}\n"
    )
    config = load_config(write(tmp_path, text))
    assert config.firmware.command == "rauc install {file}"
    assert config.firmware.trust_anchor == anchor


def test_installer_command_requires_a_command(tmp_path):
    message = errors(tmp_path, "firmware:\n  installer: command\n")
    assert "station.yaml:7: firmware.command: required with installer: command" in message


def test_an_unknown_installer_is_refused_with_its_line(tmp_path):
    assert "station.yaml:7: firmware.installer" in errors(tmp_path, "firmware:\n  installer: swu\n")


def test_a_missing_trust_anchor_file_is_refused(tmp_path):
    message = errors(tmp_path, f"firmware:\n  trust_anchor: {tmp_path / 'nope.pem'}\n")
    assert "station.yaml:7: firmware.trust_anchor" in message and "cannot be read" in message


def test_a_trust_anchor_that_is_no_certificate_is_refused(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("hello")
    message = errors(tmp_path, f"firmware:\n  trust_anchor: {bad}\n")
    assert "no readable PEM certificate" in message
