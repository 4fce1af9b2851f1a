"""Changing csms.ocpp_version with messages still queued, and databases of another chargerd:
the daemon refuses to start (exit 78) with the way out, rather than lose transactions."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time

import yaml

from chargerd.ctl import request
from chargerd.store import Store
from devcsms import Csms

from .conftest import Station, run_cli, wait_until
from .test_offline import go_offline


def config_201(station: Station) -> str:
    """The station's configuration, moved to OCPP 2.0.1 (the ocpp block in its 2.0.1 form)."""
    config = station.config()
    config["csms"]["ocpp_version"] = "2.0.1"
    config["ocpp"] = {"OCPPCommCtrlr": {"HeartbeatInterval": 300}}
    path = station.dir / "station-201.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(path)


async def queue_offline_stop(csms: Csms, station: Station) -> int:
    """A session started online and stopped while the CSMS is down; the daemon stopped.
    The number of messages left in the outbox."""
    await station.start()
    await station.start_session(1, "TAG1")
    await go_offline(csms, station)
    await station.sim("tag", "TAG1")
    await station.wait_status(1, "Finishing")
    await station.stop()
    store = Store(station.state_dir)
    try:
        return store.outbox_depth()
    finally:
        store.close()


def queued(station: Station) -> int:
    store = Store(station.state_dir)
    try:
        return store.outbox_depth()
    finally:
        store.close()


async def test_a_16_queue_stops_a_201_start_with_the_count_and_the_way_out(
    csms: Csms, station: Station
):
    waiting = await queue_offline_stop(csms, station)
    assert waiting >= 1

    result = await asyncio.to_thread(
        run_cli, "run", "--config", config_201(station), cwd=station.dir
    )
    assert result.returncode == 78, result
    assert "Traceback" not in result.stderr
    assert f"{waiting} queued message" in result.stderr, result.stderr
    assert "OCPP 1.6" in result.stderr and "csms.ocpp_version 1.6" in result.stderr
    assert "chargerd run --drop-queue" in result.stderr
    assert queued(station) == waiting  # refusing touched nothing

    # the first way out: the old version once more delivers the queue
    await csms.start()
    await station.start()
    await station.wait_outbox(lambda depth: depth == 0, "the 1.6 queue delivered")
    await station.stop()


async def test_drop_queue_discards_the_old_versions_queue_and_runs(csms: Csms, station: Station):
    waiting = await queue_offline_stop(csms, station)
    command = [sys.executable, "-m", "chargerd", "run", "--config", config_201(station),
               "--drop-queue"]  # fmt: skip
    started = time.time()
    with station.log_path.open("ab") as log:
        proc = subprocess.Popen(command, cwd=station.dir, stdout=log, stderr=log)
    try:
        def answers() -> bool:
            assert proc.poll() is None, f"chargerd exited with {proc.returncode}:\n{station.log()}"
            try:
                return bool(request(str(station.socket), {"cmd": "status"}, timeout=1)["ok"])
            except (OSError, ValueError):
                return False

        await wait_until(answers, "the 2.0.1 daemon to answer")
        status = request(str(station.socket), {"cmd": "status"})["status"]
        assert status["ocpp_version"] == "2.0.1"
        assert f"discarded {waiting} queued message" in station.log()
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    store = Store(station.state_dir)  # what is queued from now on is 2.0.1's
    try:
        assert store.get_meta("outbox_ocpp_version") == "2.0.1"
        # the CSMS is down: the 2.0.1 daemon's own messages wait (its StartupOfTheDevice
        # security event), none of the 1.6 ones
        rows = store.db.execute("SELECT action, created_at FROM outbox").fetchall()
        assert all(created_at >= started for _, created_at in rows), rows
        assert "StopTransaction" not in {action for action, _ in rows}
    finally:
        store.close()


async def test_a_database_of_a_newer_chargerd_is_refused_with_exit_78(station: Station):
    station.write_config()
    station.state_dir.mkdir()
    db = sqlite3.connect(station.state_dir / "chargerd.sqlite")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('schema_version', '999')")
    db.commit()
    db.close()
    result = await asyncio.to_thread(
        run_cli, "run", "--config", str(station.config_path), cwd=station.dir
    )
    assert result.returncode == 78, result
    assert "written by a newer chargerd" in result.stderr
    assert "restore a backup" in result.stderr and "upgrade" in result.stderr
    assert "Traceback" not in result.stderr
