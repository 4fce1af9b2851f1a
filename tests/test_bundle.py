"""The diagnostics bundle: the five files, the time window, and no secret in any of them."""

from __future__ import annotations

import json
import logging
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from chargerd import frames, logs
from chargerd.updates import bundle

PASSWORD = "s3cret-Csms-Pa55"
AUTH_KEY = "0123456789abcdef0123456789abcdef"  # a 1.6 AuthorizationKey the CSMS sets
NEW_PASSWORD = "N3w-Basic-Auth-Pw"  # a 2.0.1 BasicAuthPassword the CSMS sets
FTP_PASSWORD = "ftp-Pa55word"
KEY_MATERIAL = "MHcCAQEEIBkeyMaterialHere"
PRIVATE_KEY = f"-----BEGIN EC PRIVATE KEY-----\n{KEY_MATERIAL}\n-----END EC PRIVATE KEY-----"
SECRETS = (PASSWORD, AUTH_KEY, NEW_PASSWORD, FTP_PASSWORD, KEY_MATERIAL)


@pytest.fixture
def station_dir(tmp_path: Path):
    """storage.dir with the kept log and the frame log being written, as the daemon does."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    storage = tmp_path / "state"
    storage.mkdir()
    logs.setup("debug", [PASSWORD], file=tmp_path / "stderr.log", keep_dir=storage)
    frames.open_log(storage)
    try:
        yield storage
    finally:
        frames.close_log()
        for handler in root.handlers:
            handler.close()
        root.handlers[:], root.level = saved


def unpack(path: Path) -> dict[str, str]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "station.yaml"
    path.write_text(
        yaml.safe_dump({
            "station": {"id": "CP-1"},
            "csms": {"url": "wss://cp:pw-in-url@csms.example/ocpp", "password": PASSWORD,
                     "client_key": "/etc/chargerd/client.key"},
            "ocpp": {"AuthorizationKey": AUTH_KEY, "HeartbeatInterval": 300},
            "connectors": [{"id": 1, "max_current_a": 32}],
        })  # fmt: skip
    )
    return path


def traffic() -> None:
    """What a day of the station might log and frame: secrets included."""
    log = logging.getLogger("chargerd.ocpp")
    change = [2, "1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": AUTH_KEY}]
    frames.record("←", json.dumps(change))
    log.info("← ChangeConfiguration %s", json.dumps(change[3]))
    set_vars = [2, "2", "SetVariables", {"setVariableData": [{
        "attributeValue": NEW_PASSWORD,
        "component": {"name": "SecurityCtrlr"},
        "variable": {"name": "BasicAuthPassword"},
    }]}]  # fmt: skip
    frames.record("←", json.dumps(set_vars))
    # hidden, then cut short, as rpc.py logs a request
    log.info("← SetVariables %s", frames.redact(json.dumps(set_vars[3]))[:60])
    log.debug("← %s", json.dumps(set_vars))
    firmware = {"location": f"ftp://fw:{FTP_PASSWORD}@127.0.0.1/fw-2.0.bin", "retrieveDate": "x"}
    frames.record("←", json.dumps([2, "3", "UpdateFirmware", firmware]))
    log.warning("download of %s failed", firmware["location"])
    log.error("a key turned up: %s", PRIVATE_KEY)
    log.info("connected with Basic %s", "Q1AtMTpzM2NyZXQ=")
    log.info("station up with password %s", PASSWORD)
    frames.record("→", json.dumps([2, "4", "Heartbeat", {}]))


def sources(storage: Path, tmp_path: Path, security: Path | None = None) -> bundle.Sources:
    return bundle.Sources(
        storage_dir=storage,
        config_path=config_file(tmp_path),
        status={"station": "CP-1", "connectors": [{"id": 1, "status": "Available"}]},
        security_log=security,
        secrets=bundle.Secrets((PASSWORD,)),
    )


def test_the_bundle_holds_the_five_files(station_dir: Path, tmp_path: Path):
    security = tmp_path / "security.log"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    security.write_text(f"{now} StartupOfTheDevice station started\n")
    traffic()
    path = bundle.write(tmp_path / "out.tar.gz", sources(station_dir, tmp_path, security))
    files = unpack(path)
    assert set(files) == {
        "chargerd.log", "security.log", "status.json", "config.yaml", "ocpp-frames.log"
    }  # fmt: skip
    assert "StartupOfTheDevice" in files["security.log"]
    assert json.loads(files["status.json"])["connectors"][0]["status"] == "Available"
    assert "Heartbeat" in files["ocpp-frames.log"] and "→" in files["ocpp-frames.log"]
    assert "station up with password" in files["chargerd.log"]
    config = yaml.safe_load(files["config.yaml"])
    assert config["ocpp"]["HeartbeatInterval"] == 300  # the configuration is there...
    assert config["csms"]["password"] == frames.HIDDEN  # ...without its secrets
    assert config["ocpp"]["AuthorizationKey"] == frames.HIDDEN
    assert config["csms"]["client_key"] == frames.HIDDEN


def test_no_secret_in_any_file_of_the_bundle(station_dir: Path, tmp_path: Path):
    traffic()
    path = bundle.write(tmp_path / "out.tar.gz", sources(station_dir, tmp_path))
    for name, text in unpack(path).items():
        for secret in (*SECRETS, "pw-in-url", "Q1AtMTpzM2NyZXQ="):
            assert secret not in text, f"{secret!r} in {name}"
    # the secrets were logged, and hidden on the way: the live files hold none either
    for live in [*logs.kept_files(station_dir), *frames.files(station_dir)]:
        text = live.read_text()
        assert not [s for s in SECRETS if s in text], live


def test_the_logs_are_cut_to_the_time_window(station_dir: Path, tmp_path: Path):
    # an older, rotated part of the kept log and of the frame log
    (station_dir / "chargerd.log.1").write_text(
        "2026-01-01T10:00:00.000Z INFO    chargerd: long ago\n"
        "Traceback (most recent call last): of long ago\n"
        "2026-01-02T10:00:00.000Z INFO    chargerd: inside the window\n"
        "Traceback (most recent call last): inside too\n"
    )
    (station_dir / "ocpp-frames.log.1").write_text(
        '2026-01-01T10:00:00.000Z → [2,"old","Heartbeat",{}]\n'
    )
    traffic()
    window = bundle.Window(
        oldest=time.mktime(time.strptime("2026-01-02", "%Y-%m-%d")) - time.timezone,
        latest=time.time() + 60,
    )
    files = unpack(bundle.write(tmp_path / "w.tar.gz", sources(station_dir, tmp_path), window))
    assert "long ago" not in files["chargerd.log"]
    assert "inside the window" in files["chargerd.log"] and "inside too" in files["chargerd.log"]
    assert "station up" in files["chargerd.log"]
    assert '"old"' not in files["ocpp-frames.log"] and "Heartbeat" in files["ocpp-frames.log"]
    past = bundle.Window(latest=time.mktime(time.strptime("2026-01-03", "%Y-%m-%d")))
    files = unpack(bundle.write(tmp_path / "p.tar.gz", sources(station_dir, tmp_path), past))
    assert "long ago" in files["chargerd.log"] and "station up" not in files["chargerd.log"]


def test_a_security_log_request_gets_the_security_log_alone(station_dir: Path, tmp_path: Path):
    security = tmp_path / "security.log"
    security.write_text("2026-01-02T10:00:00Z FirmwareUpdated 2.7.1\n")
    path = bundle.write(
        tmp_path / "s.tar.gz", sources(station_dir, tmp_path, security), security_only=True
    )
    files = unpack(path)
    assert list(files) == ["security.log"]
    assert "FirmwareUpdated" in files["security.log"]


def test_the_file_name_says_station_kind_and_time():
    name = bundle.file_name("CP/1", 0)
    assert name == "CP_1-diagnostics-19700101T000000Z.tar.gz"
    assert bundle.file_name("CP-1", 0, security_only=True).startswith("CP-1-security-")


def test_a_token_in_a_url_s_query_is_hidden_like_its_user_info():
    frame = json.dumps([2, "1", "UpdateFirmware", {"firmware": {
        "location": "https://fw.example/img-2.7.1.bin?X-Amz-Signature=s3cr3t&e=1",
        "retrieveDateTime": "2026-01-01T00:00:00Z"}, "requestId": 1}])  # fmt: skip
    shown = frames.redact(frame)
    assert "s3cr3t" not in shown
    assert "https://fw.example/img-2.7.1.bin?" in shown  # where it came from stays readable
    assert "ftp://********@fw.example/a" in frames.redact('"ftp://u:pw@fw.example/a"')
