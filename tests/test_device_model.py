"""The OCPP 2.0.1 device model: get/set statuses, persistence, seeding, mutability,
characteristics, reports and their paging (chargerd.ocpp201.device_model / variables)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from chargerd.config import Config, ConnectorConfig, CsmsConfig, StationInfo
from chargerd.ocpp201.components import (
    MAX_SET,
    READ_ONLY,
    WRITE_ONLY,
    Attribute,
    Component,
    Variable,
    storage_key,
)
from chargerd.ocpp201.device_model import DeviceModel
from chargerd.ocpp201.reports import base_report, custom_report, report_data, report_pages
from chargerd.ocpp201.values import parse
from chargerd.ocpp201.variables import catalogue, check_initial_value
from chargerd.rpc import OCPP201, check_payload
from chargerd.store import Store


def make_config(**csms: Any) -> Config:
    return Config(
        path=Path("station.yaml"),
        station=StationInfo(id="CP-1", vendor="acme", model="wallbox", serial="SN-7"),
        csms=CsmsConfig(url="ws://127.0.0.1:9000/ocpp", **csms),
        connectors=(ConnectorConfig(id=1, phases=3), ConnectorConfig(id=2, phases=1)),
    )


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "state")
    yield s
    s.close()


def model(store: Store, initial: dict | None = None, dynamic=None, extra=()) -> DeviceModel:
    return DeviceModel([*catalogue(make_config()), *extra], store, initial, dynamic)


def comp(name: str, evse: int | None = None, connector: int | None = None, **kw) -> dict:
    out: dict[str, Any] = {"name": name, **kw}
    if evse is not None:
        out["evse"] = {"id": evse}
        if connector is not None:
            out["evse"]["connectorId"] = connector
    return out


def var(name: str, instance: str | None = None) -> dict:
    return {"name": name} if instance is None else {"name": name, "instance": instance}


HEARTBEAT = (comp("OCPPCommCtrlr"), var("HeartbeatInterval"))

# --- the catalogue ---------------------------------------------------------------------------

REQUIRED = {
    "ChargingStation": ["AvailabilityState", "Available", "SupplyPhases", "Model", "VendorName"],
    "OCPPCommCtrlr": [
        "HeartbeatInterval",
        "MessageAttempts",
        "MessageAttemptInterval",
        "MessageTimeout",
        "NetworkProfileConnectionAttempts",
        "OfflineThreshold",
        "ResetRetries",
        "WebSocketPingInterval",
        "UnlockOnEVSideDisconnect",
        "RetryBackOffWaitMinimum",
        "RetryBackOffRandomRange",
        "RetryBackOffRepeatTimes",
    ],
    "TxCtrlr": [
        "EVConnectionTimeOut",
        "StopTxOnEVSideDisconnect",
        "StopTxOnInvalidId",
        "MaxEnergyOnInvalidId",
        "TxStartPoint",
        "TxStopPoint",
    ],
    "SampledDataCtrlr": [
        "Enabled",
        "TxUpdatedInterval",
        "TxUpdatedMeasurands",
        "TxEndedInterval",
        "TxEndedMeasurands",
        "TxStartedMeasurands",
    ],
    "AlignedDataCtrlr": [
        "Enabled",
        "Interval",
        "Measurands",
        "TxEndedInterval",
        "TxEndedMeasurands",
    ],
    "AuthCtrlr": [
        "Enabled",
        "AuthorizeRemoteStart",
        "LocalAuthorizeOffline",
        "LocalPreAuthorize",
        "OfflineTxForUnknownIdEnabled",
    ],
    "AuthCacheCtrlr": ["Enabled", "LifeTime"],
    "LocalAuthListCtrlr": ["Enabled", "Entries", "ItemsPerMessage", "BytesPerMessage"],
    "SecurityCtrlr": ["SecurityProfile", "OrganizationName", "Identity"],
    "DeviceDataCtrlr": ["ItemsPerMessage", "BytesPerMessage"],
    "ReservationCtrlr": ["Enabled"],
    "ClockCtrlr": ["DateTime", "TimeSource"],
}


def test_catalogue_has_the_required_variables_and_one_evse_and_connector_per_connector():
    variables = catalogue(make_config())
    names = {(v.component.name, v.name) for v in variables}
    for component, wanted in REQUIRED.items():
        for name in wanted:
            assert (component, name) in names, f"{component}.{name}"
    evses = {v.component.evse for v in variables if v.component.name == "EVSE"}
    connectors = {
        (v.component.evse, v.component.connector)
        for v in variables
        if v.component.name == "Connector"
    }
    assert (evses, connectors) == ({1, 2}, {(1, 1), (2, 1)})
    instances = {v.instance for v in variables if v.name == "ItemsPerMessage"}
    assert {"GetReport", "GetVariables", "SetVariables"} <= instances
    keys = [(v.component, v.name, v.instance) for v in variables]
    assert len(keys) == len(set(keys)), "a variable is listed twice"


def test_every_writable_default_is_valid_for_its_own_characteristics():
    for v in catalogue(make_config()):
        for a in v.attributes:
            if a.writable and a.default is not None:  # a write-only secret has no default
                assert parse(v, a.default) == a.default, v.key


def test_read_only_values_come_from_the_configuration(store: Store):
    dm = model(store)
    assert dm.get(comp("ChargingStation"), var("Model")) == ("Accepted", "wallbox")
    assert dm.get(comp("ChargingStation"), var("VendorName")) == ("Accepted", "acme")
    assert dm.get(comp("ChargingStation"), var("SerialNumber")) == ("Accepted", "SN-7")
    assert dm.get(comp("SecurityCtrlr"), var("Identity")) == ("Accepted", "CP-1")
    assert dm.get(comp("EVSE", 2), var("SupplyPhases")) == ("Accepted", "1")
    assert dm.get(comp("EVSE", 1), var("Power"), MAX_SET) == ("Accepted", "22080")
    assert dm.get(comp("ReservationCtrlr"), var("Enabled")) == ("Accepted", "true")


def test_security_profile_is_the_active_one_not_a_constant():
    # the security part's credentials know it (A05: it changes at run time): e2e tests read it
    dm_vars = catalogue(make_config(password="secret"))
    profile = next(v for v in dm_vars if v.name == "SecurityProfile")
    assert profile.attributes[0].mutability == "ReadOnly" and profile.attributes[0].dynamic


# --- GetVariables ----------------------------------------------------------------------------


def test_get_statuses(store: Store):
    dm = model(store)
    assert dm.get(*HEARTBEAT) == ("Accepted", "300")
    assert dm.get(comp("NoSuchCtrlr"), var("HeartbeatInterval")) == ("UnknownComponent", None)
    assert dm.get(comp("OCPPCommCtrlr"), var("NoSuchVariable")) == ("UnknownVariable", None)
    assert dm.get(*HEARTBEAT, MAX_SET) == ("NotSupportedAttributeType", None)
    assert dm.get(*HEARTBEAT, "Target") == ("NotSupportedAttributeType", None)


def test_names_are_case_insensitive_and_instances_and_evses_must_match(store: Store):
    dm = model(store)
    assert dm.get(comp("ocppcommctrlr"), var("heartbeatinterval")) == ("Accepted", "300")
    attempts = var("MessageAttempts", "TransactionEvent")
    assert dm.get(comp("OCPPCommCtrlr"), attempts) == ("Accepted", "3")
    assert dm.get(comp("OCPPCommCtrlr"), var("MessageAttempts"))[0] == "UnknownVariable"
    assert dm.get(comp("OCPPCommCtrlr", instance="x"), attempts)[0] == "UnknownComponent"
    assert dm.get(comp("EVSE"), var("SupplyPhases"))[0] == "UnknownComponent"  # which EVSE?
    assert dm.get(comp("EVSE", 3), var("SupplyPhases"))[0] == "UnknownComponent"
    assert dm.get(comp("Connector", 1), var("ConnectorType"))[0] == "UnknownComponent"
    assert dm.get(comp("Connector", 1, 1), var("ConnectorType")) == ("Accepted", "cType2")


def test_dynamic_values_are_asked_of_the_runtime(store: Store):
    asked = []

    def dynamic(v: Variable, attribute: str):
        asked.append((v.component.key, v.name, attribute))
        return {"AvailabilityState": "Occupied", "Power": 7360.5}.get(v.name)

    dm = model(store, dynamic=dynamic)
    assert dm.get(comp("EVSE", 1), var("AvailabilityState")) == ("Accepted", "Occupied")
    assert dm.get(comp("EVSE", 2), var("Power")) == ("Accepted", "7360.5")
    assert ("EVSE/2", "Power", "Actual") in asked
    # a dynamic value the runtime cannot give (yet) is Rejected, not invented
    assert dm.get(comp("ChargingStation"), var("Problem")) == ("Rejected", None)


def test_write_only_variable_can_be_set_but_not_read(store: Store):
    secret = Variable(
        Component("SecurityCtrlr"),
        "BasicAuthPassword",
        "string",
        (Attribute(mutability=WRITE_ONLY, default=""),),
        max_limit=40,
    )
    dm = model(store, extra=[secret])
    component, variable = comp("SecurityCtrlr"), var("BasicAuthPassword")
    assert dm.get(component, variable) == ("Rejected", None)
    assert dm.set(component, variable, "s3cret-and-long")[0] == "Accepted"
    assert dm.get(component, variable) == ("Rejected", None)
    entry = report_data(dm, secret)
    assert entry["variableAttribute"] == [
        {"type": "Actual", "mutability": "WriteOnly", "persistent": True, "constant": False}
    ]


# --- SetVariables ----------------------------------------------------------------------------


def test_set_accepted_is_persisted_and_survives_a_restart(store: Store):
    dm = model(store)
    status, changed, why = dm.set(*HEARTBEAT, "60")
    assert (status, why) == ("Accepted", None)
    assert changed is not None and changed.name == "HeartbeatInterval"
    assert dm.value("OCPPCommCtrlr", "HeartbeatInterval") == 60
    assert store.settings()["OCPPCommCtrlr.HeartbeatInterval"][0] == 60
    again = model(store)
    assert again.get(*HEARTBEAT) == ("Accepted", "60")


def test_set_of_an_evse_variable_and_instanced_variable_uses_its_own_key(store: Store):
    dm = model(store)
    attempts = var("MessageAttempts", "TransactionEvent")
    assert dm.set(comp("OCPPCommCtrlr"), attempts, "5")[0] == "Accepted"
    assert "OCPPCommCtrlr.MessageAttempts:TransactionEvent" in store.settings()
    power = next(v for v in dm.variables if v.component.evse == 1 and v.name == "Power")
    assert storage_key(power, MAX_SET) == "EVSE/1.Power@MaxSet"


@pytest.mark.parametrize(
    ("component", "variable", "value", "status", "why"),
    [
        (comp("ChargingStation"), var("Model"), "x", "Rejected", "read-only"),
        (comp("EVSE", 1), var("Power"), "7000", "Rejected", "read-only"),
        (comp("SecurityCtrlr"), var("Identity"), "CP-2", "Rejected", "read-only"),
        (comp("OCPPCommCtrlr"), var("HeartbeatInterval"), "often", "Rejected", "whole number"),
        (comp("OCPPCommCtrlr"), var("HeartbeatInterval"), "0", "Rejected", "≥ 1"),
        (comp("OCPPCommCtrlr"), var("HeartbeatInterval"), "1.5", "Rejected", "whole number"),
        (comp("TxCtrlr"), var("StopTxOnInvalidId"), "yes", "Rejected", "true or false"),
        (comp("SampledDataCtrlr"), var("TxUpdatedMeasurands"), "Temperature", "Rejected", "Temp"),
        (
            comp("SampledDataCtrlr"),
            var("TxUpdatedMeasurands"),
            "Voltage,Voltage",
            "Rejected",
            "twice",
        ),
        (comp("TxCtrlr"), var("TxStartPoint"), "Banana", "Rejected", "not allowed"),
        # the meters give no signed readings: DataSigned is not among the allowed points
        (comp("TxCtrlr"), var("TxStartPoint"), "DataSigned", "Rejected", "not allowed"),
        (comp("TxCtrlr"), var("TxStopPoint"), "Authorized,DataSigned", "Rejected", "not allowed"),
        (comp("TxCtrlr"), var("TxStopPoint"), "", "Rejected", "at least one"),
        (comp("SecurityCtrlr"), var("OrganizationName"), "x" * 51, "Rejected", "longer"),
        (comp("NoSuch"), var("X"), "1", "UnknownComponent", None),
        (comp("TxCtrlr"), var("X"), "1", "UnknownVariable", None),
    ],
)
def test_set_refusals(store: Store, component, variable, value, status, why):
    dm = model(store)
    before = store.settings()
    got, changed, reason = dm.set(component, variable, value)
    assert got == status
    assert changed is None
    if why is None:
        assert reason is None
    else:
        assert reason is not None and why in reason
    assert store.settings() == before  # nothing stored


def test_set_not_supported_attribute_type(store: Store):
    dm = model(store)
    assert dm.set(*HEARTBEAT, "10", MAX_SET)[0] == "NotSupportedAttributeType"
    assert dm.set(comp("EVSE", 1), var("Power"), "10", MAX_SET)[0] == "Rejected"


@pytest.mark.parametrize(
    ("variable", "value", "stored"),
    [
        ("TxStopPoint", "Authorized", "Authorized"),
        ("TxStopPoint", "authorized, evconnected", "Authorized,EVConnected"),
        ("TxStartPoint", "PowerPathClosed", "PowerPathClosed"),
    ],
)
def test_member_lists_are_normalised(store: Store, variable: str, value: str, stored: str):
    dm = model(store)
    assert dm.set(comp("TxCtrlr"), var(variable), value)[0] == "Accepted"
    assert dm.value("TxCtrlr", variable) == stored


POINTS = ("ParkingBayOccupancy", "EVConnected", "Authorized", "PowerPathClosed", "EnergyTransfer")


@pytest.mark.parametrize("variable", ["TxStartPoint", "TxStopPoint"])
@pytest.mark.parametrize(
    "points",
    [combo for n in range(1, 6) for combo in itertools.combinations(POINTS, n)],
    ids=lambda combo: ",".join(combo),
)
def test_every_tx_point_combination_is_accepted(store: Store, variable: str, points: tuple):
    dm = model(store)
    value = ",".join(points)
    assert dm.set(comp("TxCtrlr"), var(variable), value)[0] == "Accepted"
    assert dm.value("TxCtrlr", variable) == value


def test_authorization_may_be_switched_off_for_free_charging(store: Store):
    dm = model(store)
    assert dm.set(comp("AuthCtrlr"), var("Enabled"), "false")[0] == "Accepted"
    assert dm.value("AuthCtrlr", "Enabled") is False


def test_reboot_required_variable(store: Store):
    slow = Variable(
        Component("OCPPCommCtrlr"),
        "FileTransferProtocols",
        "MemberList",
        (Attribute(default="HTTPS"),),
        values_list=("HTTP", "HTTPS", "FTP"),
        reboot=True,
    )
    dm = model(store, extra=[slow])
    assert dm.set(comp("OCPPCommCtrlr"), var("FileTransferProtocols"), "FTP")[0] == (
        "RebootRequired"
    )
    assert dm.value("OCPPCommCtrlr", "FileTransferProtocols") == "FTP"


def test_decimal_and_boolean_and_datetime_parsing():
    number = Variable(
        Component("X"), "D", "decimal", (Attribute(default=1.0),), min_limit=0, max_limit=10
    )
    assert parse(number, "2.5") == 2.5
    with pytest.raises(ValueError, match="≤ 10"):
        parse(number, "11")
    with pytest.raises(ValueError, match="number"):
        parse(number, "nan")
    flag = Variable(Component("X"), "B", "boolean", (Attribute(default=True),))
    assert parse(flag, "TRUE") is True and parse(flag, False) is False
    when = Variable(Component("X"), "T", "dateTime", (Attribute(default=""),))
    assert parse(when, "2025-01-01T10:00:00Z") == "2025-01-01T10:00:00Z"
    with pytest.raises(ValueError, match="ISO 8601"):
        parse(when, "yesterday")


# --- seeding from the YAML ------------------------------------------------------------------


def test_yaml_seeds_the_first_start_and_csms_changes_win_until_the_yaml_is_edited(store: Store):
    yaml = {"OCPPCommCtrlr": {"HeartbeatInterval": 120}}
    assert model(store, yaml).value("OCPPCommCtrlr", "HeartbeatInterval") == 120
    dm = model(store, yaml)
    assert dm.set(*HEARTBEAT, "45")[0] == "Accepted"
    # the same YAML again: the CSMS's value stays
    assert model(store, yaml).value("OCPPCommCtrlr", "HeartbeatInterval") == 45
    # a technician edits the YAML: the new value wins once
    edited = {"OCPPCommCtrlr": {"HeartbeatInterval": 90}}
    assert model(store, edited).value("OCPPCommCtrlr", "HeartbeatInterval") == 90
    assert model(store, edited).value("OCPPCommCtrlr", "HeartbeatInterval") == 90


def test_yaml_names_instances_and_evse_components(store: Store):
    yaml = {
        "OCPPCommCtrlr": {"MessageAttempts": 7, "MessageAttemptInterval:TransactionEvent": 9},
        "txctrlr": {"stoptxonevsidedisconnect": False},
    }
    dm = model(store, yaml)
    assert dm.warnings == []
    assert dm.value("OCPPCommCtrlr", "MessageAttempts", instance="TransactionEvent") == 7
    assert dm.value("OCPPCommCtrlr", "MessageAttemptInterval", instance="TransactionEvent") == 9
    assert dm.value("TxCtrlr", "StopTxOnEVSideDisconnect") is False


def test_yaml_problems_are_warnings_and_the_default_stays(store: Store):
    yaml = {
        "OCPPCommCtrlr": {"HeartbeatInterval": "soon", "NoSuch": 1},
        "NoSuchCtrlr": {"X": 1},
        "ChargingStation": {"Model": "other"},
        "DeviceDataCtrlr": {"ItemsPerMessage": 5},
    }
    dm = model(store, yaml)
    assert dm.value("OCPPCommCtrlr", "HeartbeatInterval") == 300
    text = "\n".join(dm.warnings)
    assert "HeartbeatInterval: 'soon' must be a whole number" in text
    assert "unknown variable of OCPPCommCtrlr" in text
    assert "unknown component 'NoSuchCtrlr'" in text
    assert "ChargingStation.Model: is read-only" in text
    assert "several instances" in text


def test_check_initial_value_for_the_config_loader():
    assert check_initial_value("OCPPCommCtrlr", "HeartbeatInterval", 60) is None
    assert "whole number" in str(check_initial_value("OCPPCommCtrlr", "HeartbeatInterval", "x"))
    assert "read-only" in str(check_initial_value("SecurityCtrlr", "Identity", "CP"))
    assert "unknown component" in str(check_initial_value("Nope", "HeartbeatInterval", 1))
    assert check_initial_value("TxCtrlr", "TxStartPoint", "Authorized") is None
    assert "not allowed" in str(check_initial_value("TxCtrlr", "TxStartPoint", "DataSigned"))


# --- reports ---------------------------------------------------------------------------------


def test_report_bases_and_what_each_entry_says(store: Store):
    dm = model(store, dynamic=lambda v, a: {"AvailabilityState": "Available"}.get(v.name))
    full = base_report(dm, "FullInventory")
    config = base_report(dm, "ConfigurationInventory")
    summary = base_report(dm, "SummaryInventory")
    assert len(full) == len(dm.variables)
    assert 0 < len(summary) < len(config) < len(full)
    assert all(any(a["mutability"] != READ_ONLY for a in e["variableAttribute"]) for e in config)
    assert {e["variable"]["name"] for e in summary} <= {"AvailabilityState", "Available", "Problem"}

    def entry(name: str, component: str, evse: int | None = None) -> dict:
        return next(
            e
            for e in full
            if e["variable"]["name"] == name
            and e["component"]["name"] == component
            and e["component"].get("evse", {}).get("id") == evse
        )

    heartbeat = entry("HeartbeatInterval", "OCPPCommCtrlr")
    assert heartbeat["variableAttribute"] == [
        {
            "type": "Actual",
            "mutability": "ReadWrite",
            "persistent": True,
            "constant": False,
            "value": "300",
        }
    ]
    assert heartbeat["variableCharacteristics"] == {
        "dataType": "integer",
        "supportsMonitoring": False,
        "unit": "s",
        "minLimit": 1,
    }
    power = entry("Power", "EVSE", 1)
    assert power["component"] == {"name": "EVSE", "evse": {"id": 1}}
    assert [a["type"] for a in power["variableAttribute"]] == ["Actual", "MaxSet"]
    assert power["variableAttribute"][1]["constant"] is True
    assert "value" not in power["variableAttribute"][0]  # the dynamic value was not known
    measurands = entry("TxUpdatedMeasurands", "SampledDataCtrlr")["variableCharacteristics"]
    assert measurands["dataType"] == "MemberList"
    assert "Energy.Active.Import.Register" in measurands["valuesList"].split(",")
    state = entry("AvailabilityState", "ChargingStation")["variableAttribute"][0]
    assert (state["value"], state["mutability"]) == ("Available", "ReadOnly")
    with pytest.raises(ValueError):
        base_report(dm, "Everything")


def test_report_pages_are_numbered_and_chained_with_tbc(store: Store):
    entries = base_report(model(store), "FullInventory")
    pages = report_pages(entries, 7, "2025-01-01T10:00:00Z", items_per_message=20)
    assert [p["seqNo"] for p in pages] == list(range(len(pages)))
    assert [p["tbc"] for p in pages] == [True] * (len(pages) - 1) + [False]
    assert all(len(p["reportData"]) <= 20 for p in pages)
    assert [d for p in pages for d in p["reportData"]] == entries
    assert {p["requestId"] for p in pages} == {7}
    for page in pages:  # each is a valid NotifyReport
        check_payload(OCPP201, "NotifyReport", page, response=False)


def test_report_pages_respect_bytes_per_message(store: Store):
    entries = base_report(model(store), "FullInventory")
    pages = report_pages(entries, 1, "2025-01-01T10:00:00Z", 1000, bytes_per_message=2000)
    assert len(pages) > 1
    for page in pages:
        frame = [2, "0123abcd-99", "NotifyReport", page]
        assert len(json.dumps(frame, separators=(",", ":"))) <= 2000 or (
            len(page["reportData"]) == 1
        )
    assert [d for p in pages for d in p["reportData"]] == entries


def test_one_page_and_an_empty_report():
    (only,) = report_pages([{"x": 1}], 3, "t", 20)
    assert (only["seqNo"], only["tbc"], only["reportData"]) == (0, False, [{"x": 1}])
    (empty,) = report_pages([], 3, "t", 20)
    assert "reportData" not in empty and empty["tbc"] is False


# --- what the CSMS may and may not change ---------------------------------------------------


@pytest.mark.parametrize(
    "component, variable, value",
    [
        ("AuthCtrlr", "DisableRemoteAuthorization", "true"),
        ("AlignedDataCtrlr", "SendDuringIdle", "true"),
        ("OCPPCommCtrlr", "UnlockOnEVSideDisconnect", "false"),
    ],
)
def test_variables_the_station_honours_are_writable(store: Store, component, variable, value):
    dm = model(store)
    status, changed, why = dm.set(comp(component), var(variable), value)
    assert (status, why) == ("Accepted", None)
    assert dm.get(comp(component), var(variable)) == ("Accepted", value)


@pytest.mark.parametrize(
    "component, variable, real",
    [
        ("AlignedDataCtrlr", "SignReadings", "false"),
        ("SampledDataCtrlr", "SignReadings", "false"),
        ("ChargingStation", "Problem", None),  # a fact of the hardware, not a setting
    ],
)
def test_variables_the_station_cannot_honour_are_read_only_with_their_real_value(
    store: Store, component, variable, real
):
    dm = model(store, dynamic=lambda v, a: False)
    assert dm.set(comp(component), var(variable), "true")[0] == "Rejected"
    if real is not None:
        assert dm.get(comp(component), var(variable)) == ("Accepted", real)


# --- GetReport (B08) ---------------------------------------------------------------------------


def test_custom_report_selects_by_component_variable(store: Store):
    dm = model(store, dynamic=lambda v, a: False)
    whole = custom_report(dm, [{"component": {"name": "txctrlr"}}], None)
    assert {d["variable"]["name"] for d in whole} >= {"TxStartPoint", "TxStopPoint"}
    assert {d["component"]["name"] for d in whole} == {"TxCtrlr"}
    every_evse = custom_report(
        dm, [{"component": {"name": "EVSE"}, "variable": {"name": "SupplyPhases"}}], None
    )
    assert [d["component"]["evse"]["id"] for d in every_evse] == [1, 2]
    one = custom_report(
        dm,
        [
            {
                "component": {"name": "DeviceDataCtrlr"},
                "variable": {"name": "ItemsPerMessage", "instance": "GetReport"},
            }
        ],
        None,
    )
    assert [(d["variable"], d["variableAttribute"][0]["value"]) for d in one] == [
        ({"name": "ItemsPerMessage", "instance": "GetReport"}, "20")
    ]
    assert custom_report(dm, [{"component": {"name": "NoSuchCtrlr"}}], None) == []


def test_custom_report_criteria_read_the_components_own_variables(store: Store):
    faulted = {("Connector", 2), ("ChargingStation", None)}

    def dynamic(v: Variable, attribute: str):
        if v.name == "Problem":
            return (v.component.name, v.component.evse) in faulted
        return True if v.data_type == "boolean" else None

    dm = model(store, dynamic=dynamic)
    problem = custom_report(dm, None, ["Problem"])
    assert {
        (d["component"]["name"], d["component"].get("evse", {}).get("id")) for d in problem
    } == {
        ("Connector", 2),
        ("ChargingStation", None),
    }
    # a controller has no Available variable: it exists, so it is Available
    available = custom_report(dm, [{"component": {"name": "TxCtrlr"}}], ["Available"])
    assert available
    # criteria are ORed
    either = custom_report(
        dm,
        [{"component": {"name": "Connector"}, "variable": {"name": "Problem"}}],
        ["Problem", "Enabled"],
    )
    assert len(either) == 2
