"""The configuration checks of the TLS files (`csms.ca_file`, `client_cert`, `client_key`,
`firmware.trust_anchor`) without `cryptography`: they run at every start of the daemon."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chargerd.config import ConfigError, load_config

from . import pki

ROOT = Path(__file__).resolve().parents[2]


def station_yaml(tmp_path: Path, cert: Path, key: Path, ca: Path, anchor: Path) -> Path:
    file = tmp_path / "station.yaml"
    file.write_text(f"""\
station: {{id: CP-001}}
csms:
  url: wss://127.0.0.1:9000/ocpp
  security_profile: 3
  ca_file: {ca}
  client_cert: {cert}
  client_key: {key}
storage: {{dir: {tmp_path / "state"}}}
control: {{socket: {tmp_path / "ctl.sock"}}}
connectors: [{{id: 1, max_current_a: 32, phases: 3}}]
firmware: {{trust_anchor: {anchor}}}
""")
    return file


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    root = pki.root("CSMS Root")
    cert, key = pki.leaf("CP-001", root).write(tmp_path, "client")
    _, other_key = pki.leaf("CP-002", root).write(tmp_path, "other")
    ca, anchor = tmp_path / "ca.pem", tmp_path / "maker.pem"
    ca.write_text(root.pem)
    anchor.write_text(pki.root("Maker Root").pem)
    return {"cert": cert, "key": key, "other_key": other_key, "ca": ca, "anchor": anchor}


def test_a_good_profile_3_configuration_loads_without_cryptography(tmp_path, files):
    path = station_yaml(tmp_path, files["cert"], files["key"], files["ca"], files["anchor"])
    code = ("import sys; from chargerd.config import load_config; "
            f"load_config({str(path)!r}); print('cryptography' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True)  # fmt: skip
    assert out.stdout.strip() == "False"


def test_a_key_that_is_not_the_certificates_is_an_error_on_its_line(tmp_path, files):
    path = station_yaml(tmp_path, files["cert"], files["other_key"], files["ca"], files["anchor"])
    with pytest.raises(ConfigError) as failed:
        load_config(path)
    [error] = failed.value.errors
    assert "station.yaml:7: csms.client_key" in error and "is not the private key of" in error


def test_an_expired_client_certificate_is_an_error(tmp_path, files):
    root = pki.root("CSMS Root")
    old = pki.NOW - pki.dt.timedelta(days=30)
    cert, key = pki.leaf("CP-001", root, days=10, not_before=old).write(tmp_path, "expired")
    path = station_yaml(tmp_path, cert, key, files["ca"], files["anchor"])
    with pytest.raises(ConfigError) as failed:
        load_config(path)
    assert any("csms.client_cert" in e and "expired" in e for e in failed.value.errors)


def test_a_ca_file_and_trust_anchor_without_certificates_are_errors(tmp_path, files):
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
    path = station_yaml(tmp_path, files["cert"], files["key"], bad, bad)
    with pytest.raises(ConfigError) as failed:
        load_config(path)
    text = "\n".join(failed.value.errors)
    assert "csms.ca_file" in text and "firmware.trust_anchor" in text
