"""The daemon as it runs on a board: version, signals, the websocket's close, its log."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

from chargerd import version
from devcsms import Csms

from .conftest import Station, calls, run_cli, wait_call, wait_until


async def test_the_running_version_is_logged_and_in_status(csms: Csms, station: Station):
    await station.start()
    result = await asyncio.to_thread(
        run_cli, "--socket", str(station.socket), "status", "--json", module="chargerd.ctl"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["version"] == version()
    assert f"chargerd {version()} starting" in station.log()


def test_both_commands_tell_their_version():
    assert run_cli("--version").stdout.strip() == f"chargerd {version()}"
    ctl = run_cli("--version", module="chargerd.ctl")
    assert ctl.stdout.strip() == f"chargerctl {version()}"


async def test_a_graceful_stop_closes_the_websocket_with_going_away(
    csms: Csms, station: Station
):
    mark = await station.start()
    await station.stop()
    closed = await csms.wait_for(lambda e: e.kind == "disconnect", 10, after=mark)
    assert closed.payload["code"] in (1000, 1001), closed.payload


async def test_sighup_reopens_the_log_file_and_the_daemon_goes_on(
    csms: Csms, station: Station, tmp_path: Path
):
    log_file = tmp_path / "chargerd.log.file"
    station.overrides = [f"log.file={log_file}"]
    await station.start()
    assert "station CP-E2E up" in log_file.read_text()
    rotated = log_file.rename(tmp_path / "chargerd.log.file.1")  # what logrotate does
    assert station.proc is not None
    station.proc.send_signal(signal.SIGHUP)
    await wait_until(log_file.exists, "a new log file after SIGHUP")
    await wait_until(lambda: "log file re-opened" in log_file.read_text(), "the re-open line")
    assert station.running
    mark = len(csms.ledger.entries)
    await station.sim("plug", "1")
    await wait_call(csms, "StatusNotification", after=mark, connectorId=1, status="Preparing")
    assert "Preparing" in log_file.read_text() and "Preparing" not in rotated.read_text()
    await station.stop()


async def test_sighup_without_a_log_file_does_not_stop_the_daemon(
    csms: Csms, station: Station
):
    await station.start()
    assert station.proc is not None
    station.proc.send_signal(signal.SIGHUP)
    await wait_until(lambda: "nothing to re-open" in station.log(), "the SIGHUP line")
    assert station.running and (await station.status())["link"]["state"] == "connected"
    await station.stop()


async def test_a_failing_meter_is_logged_once_when_it_fails_and_once_when_it_is_back(
    csms: Csms, station: Station
):
    await station.start()
    await station.start_session(2, "TAG1")
    mark = len(csms.ledger.entries)
    await station.sim("meter-fail", "1")
    await wait_call(csms, "StatusNotification", after=mark, connectorId=1, status="Faulted")
    # The daemon reads every meter once a second; connector 2's samples (one a second) show
    # that the dead meter has been polled again several times.
    await wait_until(
        lambda: len(calls(csms, "MeterValues", after=mark)) >= 4, "4 samples of connector 2"
    )
    await station.sim("meter-restore", "1")
    await wait_call(csms, "StatusNotification", after=mark, connectorId=1, status="Available")
    log = station.log()
    failed = [line for line in log.splitlines() if "connector 1: SimMeter failed" in line]
    back = [line for line in log.splitlines() if "connector 1: SimMeter works again" in line]
    assert len(failed) == 1 and len(back) == 1, log
