"""Configuration errors and chargerctl without a daemon: exit codes and messages."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from devcsms import Csms

from .conftest import STATION_ID, Station, run_cli

BROKEN = """\
station:
  id: CP-BROKEN
csms:
  url: ws://127.0.0.1:9/ocpp
  pasword: secret
storage: {dir: ./state}
control: {socket: ./ctl.sock}
connectors:
  - {id: 1, max_current_a: 32, phases: 2}
"""


def write_broken(tmp_path: Path) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    return path


def test_check_config_reports_file_line_key_and_exits_78(tmp_path: Path):
    path = write_broken(tmp_path)
    result = run_cli("check-config", str(path), cwd=tmp_path)
    assert result.returncode == 78, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert any(re.match(rf"{re.escape(str(path))}:5: csms\.pasword: ", line) for line in lines), (
        result.stderr
    )
    phases = rf"{re.escape(str(path))}:9: connectors\[0\]\.phases: "
    assert any(re.match(phases, line) for line in lines), result.stderr


def test_check_config_reports_yaml_syntax_error_with_line(tmp_path: Path):
    path = tmp_path / "tabs.yaml"
    path.write_text("station:\n  id: CP-1\ncsms:\n\turl: ws://127.0.0.1:9/ocpp\n")
    result = run_cli("check-config", str(path), cwd=tmp_path)
    assert result.returncode == 78, result
    assert "Traceback" not in result.stderr
    assert re.search(rf"^{re.escape(str(path))}:\d+: YAML syntax error", result.stderr, re.M), (
        result.stderr
    )


def test_run_with_broken_config_exits_78_without_starting(tmp_path: Path):
    path = write_broken(tmp_path)
    result = run_cli("run", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 78, result
    assert "Traceback" not in result.stderr
    assert "csms.pasword" in result.stderr
    assert not (tmp_path / "ctl.sock").exists()


def test_chargerctl_without_daemon_exits_1_with_clear_message(tmp_path: Path):
    socket = tmp_path / "nobody.sock"
    result = run_cli("--socket", str(socket), "status", module="chargerd.ctl")
    assert result.returncode == 1, result
    assert "not running" in result.stderr and str(socket) in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_set_override_is_reported_as_set_and_exits_78(tmp_path: Path):
    path = tmp_path / "ok.yaml"
    path.write_text(BROKEN.replace("  pasword: secret\n", "").replace("phases: 2", "phases: 3"))
    assert run_cli("check-config", str(path), cwd=tmp_path).returncode == 0
    result = run_cli("check-config", str(path), "--set", "csms.ocpp_version=1.9", cwd=tmp_path)
    assert result.returncode == 78, result
    assert re.search(r"^--set csms\.ocpp_version: ", result.stderr, re.M), result.stderr
    assert "Traceback" not in result.stderr


async def test_chargerctl_status_json_shows_link_queue_and_transaction(
    csms: Csms, station: Station
):
    await station.start()
    tx_id = await station.start_session(1, "TAG1")
    result = await asyncio.to_thread(
        run_cli, "--socket", str(station.socket), "status", "--json", module="chargerd.ctl"
    )
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["station"] == STATION_ID
    assert status["link"]["state"] == "connected"
    assert isinstance(status["outbox_depth"], int)
    one, two = status["connectors"]
    assert (one["status"], one["transaction"]["id"], one["transaction"]["id_tag"]) == (
        "Charging",
        str(tx_id),
        "TAG1",
    )
    assert (two["status"], two["transaction"]) == ("Available", None)
    text = await asyncio.to_thread(
        run_cli, "--socket", str(station.socket), "status", module="chargerd.ctl"
    )
    assert text.returncode == 0 and f"transaction {tx_id}" in text.stdout, text
