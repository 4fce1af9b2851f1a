"""`chargerctl ocpp get` on the 2.0.1 device model: names as in the YAML and settings table,
and a write-only value is never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargerd.ocpp201.components import WRITE_ONLY, Attribute, Component, Variable
from chargerd.ocpp201.device_model import DeviceModel
from chargerd.ocpp201.technician import get, parse_name
from chargerd.store import Store

SECRET = Variable(
    Component("SecurityCtrlr"), "BasicAuthPassword", "string",
    (Attribute(mutability=WRITE_ONLY, default="s3cret-value"),),
)  # fmt: skip
INTERVAL = Variable(
    Component("OCPPCommCtrlr"), "HeartbeatInterval", "integer", (Attribute(default=300),)
)


@pytest.fixture
def dm(tmp_path: Path):
    store = Store(tmp_path)
    yield DeviceModel([SECRET, INTERVAL], store)
    store.close()


def test_names_as_in_the_yaml_and_the_settings_table():
    assert parse_name("OCPPCommCtrlr.MessageAttempts:TransactionEvent") == (
        {"name": "OCPPCommCtrlr"}, {"name": "MessageAttempts", "instance": "TransactionEvent"},
        "Actual",
    )  # fmt: skip
    assert parse_name("Connector/2/1.Available") == (
        {"name": "Connector", "evse": {"id": 2, "connectorId": 1}}, {"name": "Available"},
        "Actual",
    )  # fmt: skip
    assert parse_name("EVSE/1.Power@MaxSet")[2] == "MaxSet"
    with pytest.raises(ValueError, match="attribute"):
        parse_name("EVSE/1.Power@Maximum")


def test_a_write_only_value_is_never_shown(dm: DeviceModel):
    shown = get(dm, "SecurityCtrlr.BasicAuthPassword")
    assert "write-only" in shown and "s3cret" not in shown
    assert get(dm, "ocppcommctrlr.heartbeatinterval") == "OCPPCommCtrlr.HeartbeatInterval = 300"
