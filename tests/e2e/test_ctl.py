"""A technician's chargerctl against the real daemon and CSMS (OCPP 1.6): the commands reach
the station as the CSMS's requests would, status exit codes serve monitoring, and
`sim tag` says what became of the card."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys

from devcsms import Csms

from .conftest import Station, calls, run_cli, wait_call, wait_until
from .test_offline import go_offline
from .test_wire import wire_up


async def ctl(station: Station, *args: str) -> subprocess.CompletedProcess[str]:
    """`chargerctl --socket ... ARGS` as a technician types it."""
    return await asyncio.to_thread(
        run_cli, "--socket", str(station.socket), *args, module="chargerd.ctl"
    )


# --- commands ------------------------------------------------------------------------------


async def test_stop_ends_the_session_with_reason_local(csms: Csms, station: Station):
    await station.start()
    tx_id = await station.start_session(1, "TAG1")
    result = await ctl(station, "stop", "1")
    assert result.returncode == 0, result
    stop = await wait_call(csms, "StopTransaction", transactionId=tx_id)
    assert stop.payload["reason"] == "Local"
    again = await ctl(station, "stop", "1")
    assert again.returncode == 1 and "no session runs on connector 1" in again.stderr


async def test_unlock_opens_an_idle_connector_and_refuses_during_a_session(
    csms: Csms, station: Station
):
    await station.start()
    assert (await ctl(station, "unlock", "2")).stdout.strip() == "connector 2: unlocked"
    await station.start_session(1, "TAG1")
    busy = await ctl(station, "unlock", "1")
    assert busy.returncode == 1 and "chargerctl stop 1" in busy.stderr
    assert (await station.connector(1))["status"] == "Charging"
    missing = await ctl(station, "unlock", "7")
    assert missing.returncode == 1 and "no connector 7" in missing.stderr


async def test_availability_as_change_availability_scheduled_during_a_session(
    csms: Csms, station: Station
):
    mark = await station.start()
    await station.start_session(1, "TAG1")
    result = await ctl(station, "availability", "station", "inoperative")
    assert result.returncode == 0 and "Scheduled" in result.stdout, result
    await wait_call(csms, "StatusNotification", after=mark, connectorId=2, status="Unavailable")
    assert (await station.connector(1))["status"] == "Charging"  # the session goes on
    await ctl(station, "stop", "1")
    await station.sim("unplug", "1")
    await station.wait_status(1, "Unavailable")
    back = await ctl(station, "availability", "1", "operative")
    assert back.returncode == 0 and "Accepted" in back.stdout
    await station.wait_status(1, "Available")
    assert (await station.connector(2))["status"] == "Unavailable"


async def test_soft_reset_ends_the_session_and_boots_again(csms: Csms, station: Station):
    await station.start()
    tx_id = await station.start_session(1, "TAG1")
    mark = len(csms.ledger.entries)
    result = await ctl(station, "reset", "soft")
    assert result.returncode == 0, result
    stop = await wait_call(csms, "StopTransaction", after=mark, transactionId=tx_id)
    assert stop.payload["reason"] == "SoftReset"
    await wait_call(csms, "BootNotification", after=mark)
    assert "soft reset requested by chargerctl" in station.log()
    assert station.running


async def test_ocpp_get_and_set_validate_and_persist_like_change_configuration(
    csms: Csms, station: Station
):
    await station.start()
    got = await ctl(station, "ocpp", "get", "heartbeatinterval")  # keys ignore case
    assert got.returncode == 0 and got.stdout.strip() == "HeartbeatInterval = 300", got
    changed = await ctl(station, "ocpp", "set", "ConnectionTimeOut", "90")
    assert changed.returncode == 0, changed
    assert changed.stdout.strip() == "ConnectionTimeOut = 90  (Accepted)"

    for key, value, why in [
        ("HeartbeatInterval", "soon", "whole number"),
        ("MeterValuesSampledData", "Temperature", "unsupported measurand"),
        ("NumberOfConnectors", "3", "read-only"),
        ("NoSuchKey", "1", "NotSupported"),
    ]:
        refused = await ctl(station, "ocpp", "set", key, value)
        assert refused.returncode == 1 and why in refused.stderr, (key, refused)

    await station.restart()  # persisted as a CSMS's change is
    assert (await ctl(station, "ocpp", "get", "ConnectionTimeOut")).stdout.strip() == (
        "ConnectionTimeOut = 90"
    )
    seen = await csms.call(station.station_id, "GetConfiguration", {"key": ["ConnectionTimeOut"]})
    assert seen["configurationKey"][0]["value"] == "90"
    assert (await ctl(station, "ocpp", "get", "NumberOfConnectors")).stdout.strip() == (
        "NumberOfConnectors = 2  (read-only)"
    )


async def test_log_level_changes_at_run_time(csms: Csms, station: Station):
    await station.start()
    await station.sim("plug", "1")
    assert "DEBUG" not in station.log()
    result = await ctl(station, "log-level", "debug")
    assert result.returncode == 0, result
    await station.sim("unplug", "1")
    await wait_until(lambda: "DEBUG" in station.log(), "a debug line in the log")
    bad = await ctl(station, "log-level", "loud")
    assert bad.returncode == 2  # usage


# --- status for monitoring -----------------------------------------------------------------


async def test_status_exit_codes_link_down_and_faulted(csms: Csms, station: Station):
    await station.start()
    assert (await ctl(station, "status")).returncode == 0
    await station.sim("meter-fail", "2")
    await station.wait_status(2, "Faulted")
    faulted = await ctl(station, "status", "--json")
    assert faulted.returncode == 4, faulted
    two = json.loads(faulted.stdout)["connectors"][1]
    assert two["fault"]["code"] == "PowerMeterFailure"
    assert two["fault"]["device"].startswith("meter (sim")
    assert two["fault"]["reason"]  # the meter's own words
    text = await ctl(station, "status")
    assert re.search(r"fault PowerMeterFailure: meter \(sim.*\): \S", text.stdout), text.stdout

    await station.sim("meter-restore", "2")
    await station.wait_status(2, "Available")
    await go_offline(csms, station)
    down = await ctl(station, "status")
    assert down.returncode == 3, down
    await csms.start()


async def test_status_into_a_closed_pipe_is_no_traceback(csms: Csms, station: Station):
    await station.start()
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written (`| head -1`, quick)
    try:
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "chargerd.ctl", "--socket", str(station.socket), "status"],
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=10,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert result.returncode == 0


async def test_usage_lists_every_sim_command_the_daemon_knows(csms: Csms, station: Station):
    await station.start()
    answer = await station.ctl("sim", "no-such-thing")
    known = re.search(r"known: (.*)", answer["error"])
    assert known, answer
    usage = await asyncio.to_thread(run_cli, "sim", "--help", module="chargerd.ctl")
    for command in known.group(1).split(", "):
        assert re.search(rf"^\s+{re.escape(command)}\b", usage.stdout, re.M), command
    bare = await asyncio.to_thread(run_cli, "sim", module="chargerd.ctl")
    assert bare.returncode == 2 and "meter-restore" in bare.stderr


# --- what became of a card -----------------------------------------------------------------


async def test_sim_tag_reports_started_stopped_and_waiting(csms: Csms, station: Station):
    await station.start()
    waiting = await station.sim("tag", "TAG1")
    assert "accepted: plug in an EV" in waiting, waiting
    await station.sim("plug", "1")
    await station.wait_status(1, "Charging")
    stopped = await station.sim("tag", "TAG1")
    assert re.search(r"session \S+ on connector 1 stopped", stopped), stopped
    await station.sim("unplug", "1")
    await station.sim("plug", "2")
    started = await station.sim("tag", "TAG2")
    assert started == "tag TAG2: accepted: session started on connector 2"


async def test_sim_tag_reports_a_refusal_by_the_csms(csms: Csms, station: Station):
    csms.auth = {"BAD": "Invalid"}
    await station.start()
    await station.sim("plug", "1")
    answer = await station.sim("tag", "BAD")
    assert answer == "tag BAD: refused by the CSMS (Invalid)"
    assert "id tag BAD refused by the CSMS (Invalid)" in station.log()


async def test_sim_tag_offline_refusal_names_the_offline_rule(csms: Csms, station: Station):
    await station.start()
    await station.sim("plug", "1")
    await go_offline(csms, station)
    answer = await station.sim("tag", "STRANGER")
    assert "refused by the offline rules" in answer and "AllowOfflineTxForUnknownId" in answer
    assert "refused by the CSMS" not in station.log()
    assert re.search(r"id tag STRANGER refused by the offline rules \(.*LocalAuthorizeOffline",
                     station.log())  # fmt: skip
    await csms.start()


async def test_sim_tag_on_a_connector_that_cannot_start_is_ignored(csms: Csms, station: Station):
    mark = await station.start()
    await station.sim("fault", "1", "HighTemperature")
    await station.wait_status(1, "Faulted")
    answer = await station.sim("tag", "TAG1", "--connector", "1")
    assert answer.startswith("tag TAG1: ignored"), answer
    assert calls(csms, "StartTransaction", mark) == []


async def test_status_names_the_device_that_failed_and_why(csms: Csms, station: Station):
    missing = "/dev/ttyUSB-chargerd-ctl-missing"
    connector = {"id": 1, "max_current_a": 32, "phases": 3,
                 "controller": {"driver": "rapi", "port": missing},
                 "meter": {"driver": "modbus", "model": "sdm630", "host": "127.0.0.1",
                           "port": 9, "unit": 1, "timeout_s": 0.2}}  # fmt: skip
    wire_up(station, [connector], wire=False)
    mark = await station.start(wait=False)
    await station.wait_statuses_reported(after=mark, connectors=(0, 1))
    await station.wait_status(1, "Faulted")
    result = await ctl(station, "status", "--json")
    assert result.returncode == 4, result
    one = json.loads(result.stdout)["connectors"][0]
    assert one["fault"] == one["faults"][0]
    by_device = {fault["device"]: fault for fault in one["faults"]}
    assert missing in by_device[f"controller (rapi on {missing})"]["reason"]
    assert "cannot connect" in by_device["meter (modbus on 127.0.0.1:9)"]["reason"]
