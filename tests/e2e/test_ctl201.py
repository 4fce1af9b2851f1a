"""chargerctl against an OCPP 2.0.1 station: `ocpp get|set` name device-model variables
(Component[/evse].Variable[:instance][@Attribute]) and go through SetVariables' checks; card
refusals name the 2.0.1 offline rules."""

from __future__ import annotations

import asyncio
import re
import subprocess

from devcsms import Csms201

from .conftest import STATION_ID, run_cli
from .conftest201 import Station201, csms, station

__all__ = ["csms", "station"]  # the 2.0.1 fixtures, not conftest.py's 1.6 ones


async def ctl(station: Station201, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        run_cli, "--socket", str(station.socket), *args, module="chargerd.ctl"
    )


async def test_ocpp_get_and_set_device_model_variables(csms: Csms201, station: Station201):
    await station.start()
    got = await ctl(station, "ocpp", "get", "OCPPCommCtrlr.MessageAttempts:TransactionEvent")
    assert got.stdout.strip() == "OCPPCommCtrlr.MessageAttempts:TransactionEvent = 3", got
    dotted = await ctl(station, "ocpp", "get", "OCPPCommCtrlr.MessageAttempts.TransactionEvent")
    assert dotted.stdout == got.stdout
    power = await ctl(station, "ocpp", "get", "EVSE/1.Power@MaxSet")
    assert power.returncode == 0 and re.match(r"EVSE/1\.Power@MaxSet = [\d.]+  \(read-only\)",
                                               power.stdout), power  # fmt: skip

    changed = await ctl(station, "ocpp", "set", "TxCtrlr.EVConnectionTimeOut", "45")
    assert changed.stdout.strip() == "TxCtrlr.EVConnectionTimeOut = 45  (Accepted)", changed
    answer = await csms.call(
        STATION_ID,
        "GetVariables",
        {"getVariableData": [{"component": {"name": "TxCtrlr"},
                              "variable": {"name": "EVConnectionTimeOut"}}]},
    )  # fmt: skip
    assert answer["getVariableResult"][0]["attributeValue"] == "45"
    assert "TxCtrlr.EVConnectionTimeOut set to 45 by chargerctl" in station.log()

    for key, value, why in [
        ("TxCtrlr.EVConnectionTimeOut", "-5", "Rejected"),
        ("TxCtrlr.NoSuchVariable", "1", "UnknownVariable"),
        ("NoSuchCtrlr.Enabled", "true", "UnknownComponent"),
        ("EVSE/1.Power@MaxSet", "1000", "read-only"),
        ("HeartbeatInterval", "60", "did you mean OCPPCommCtrlr.HeartbeatInterval?"),
    ]:
        refused = await ctl(station, "ocpp", "set", key, value)
        assert refused.returncode == 1 and why in refused.stderr, (key, refused)


async def test_offline_refusal_names_the_201_rule(csms: Csms201, station: Station201):
    await station.start()
    await station.sim("plug", "1")
    await station.wait_outbox(lambda depth: depth == 0, "empty before the outage")
    await csms.stop()
    await station.wait_link(connected=False)
    answer = await station.sim("tag", "STRANGER")
    assert "refused by the offline rules" in answer, answer
    assert "AuthCtrlr.OfflineTxForUnknownIdEnabled is false" in answer
    assert "id token STRANGER refused by the offline rules" in station.log()
    await csms.start()
