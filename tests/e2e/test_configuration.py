"""GetConfiguration / ChangeConfiguration (OCPP 1.6 Core profile, section 9.1)."""

from __future__ import annotations

import pytest

from devcsms import Csms

from .conftest import STATION_ID, Station, wait_call

# Core keys a station must report, with the accessibility the 1.6 spec gives them
# (True: read-only; None: the spec leaves R or RW to the manufacturer).
CORE_KEYS: dict[str, bool | None] = {
    "AuthorizeRemoteTxRequests": None,
    "ClockAlignedDataInterval": False,
    "ConnectionTimeOut": False,
    "ConnectorPhaseRotation": False,
    "GetConfigurationMaxKeys": True,
    "HeartbeatInterval": False,
    "LocalAuthorizeOffline": False,
    "LocalPreAuthorize": False,
    "MeterValuesAlignedData": False,
    "MeterValuesSampledData": False,
    "MeterValueSampleInterval": False,
    "NumberOfConnectors": True,
    "ResetRetries": False,
    "StopTransactionOnEVSideDisconnect": False,
    "StopTransactionOnInvalidId": False,
    "StopTxnAlignedData": False,
    "StopTxnSampledData": False,
    "SupportedFeatureProfiles": True,
    "TransactionMessageAttempts": False,
    "TransactionMessageRetryInterval": False,
    "UnlockConnectorOnEVSideDisconnect": False,
}


async def get_configuration(csms: Csms, *keys: str) -> dict[str, dict]:
    payload = {"key": list(keys)} if keys else {}
    answer = await csms.call(STATION_ID, "GetConfiguration", payload)
    return {k["key"]: k for k in answer["configurationKey"]}


async def change(csms: Csms, key: str, value: str) -> str:
    answer = await csms.call(STATION_ID, "ChangeConfiguration", {"key": key, "value": value})
    return answer["status"]


async def test_get_configuration_lists_core_keys_with_readonly_flags(csms: Csms, station: Station):
    await station.start()
    keys = await get_configuration(csms)
    missing = sorted(set(CORE_KEYS) - set(keys))
    assert missing == []
    for name, readonly in CORE_KEYS.items():
        if readonly is not None:
            assert keys[name]["readonly"] is readonly, name
        assert isinstance(keys[name].get("value"), str), name
    assert keys["NumberOfConnectors"]["value"] == "2"
    assert keys["MeterValueSampleInterval"]["value"] == "1"  # the YAML's first-start value
    assert "Core" in keys["SupportedFeatureProfiles"]["value"].split(",")
    assert int(keys["GetConfigurationMaxKeys"]["value"]) >= 1


async def test_get_configuration_reports_unknown_keys(csms: Csms, station: Station):
    await station.start()
    answer = await csms.call(
        STATION_ID, "GetConfiguration", {"key": ["HeartbeatInterval", "NoSuchKey"]}
    )
    assert [k["key"] for k in answer["configurationKey"]] == ["HeartbeatInterval"]
    assert answer["unknownKey"] == ["NoSuchKey"]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("NoSuchKey", "1", "NotSupported"),
        ("NumberOfConnectors", "5", "Rejected"),
        ("HeartbeatInterval", "abc", "Rejected"),
    ],
    ids=["unknown-key-not-supported", "read-only-rejected", "bad-value-rejected"],
)
async def test_change_configuration_refusals(
    csms: Csms, station: Station, key: str, value: str, expected: str
):
    await station.start()
    before = await get_configuration(csms)
    assert await change(csms, key, value) == expected
    assert await get_configuration(csms) == before


async def test_change_configuration_persists_across_restart(csms: Csms, station: Station):
    await station.start()
    assert await change(csms, "MeterValueSampleInterval", "30") == "Accepted"
    keys = await get_configuration(csms, "MeterValueSampleInterval")
    assert keys["MeterValueSampleInterval"]["value"] == "30"
    # the YAML still says 1 (its unchanged first-start value): the CSMS's change wins
    assert station.ocpp["MeterValueSampleInterval"] == 1
    await station.restart()
    keys = await get_configuration(csms, "MeterValueSampleInterval")
    assert keys["MeterValueSampleInterval"]["value"] == "30"


async def test_changed_sampled_data_shapes_next_meter_values(csms: Csms, station: Station):
    await station.start()
    measurands = "Energy.Active.Import.Register,Current.Import,Voltage"
    assert await change(csms, "MeterValuesSampledData", measurands) == "Accepted"
    assert await change(csms, "MeterValuesSampledData", "Energy.Bogus") == "Rejected"
    tx_id = await station.start_session(1, "TAG1")
    sample = await wait_call(csms, "MeterValues", transactionId=tx_id)
    values = sample.payload["meterValue"][0]["sampledValue"]
    assert {sv["measurand"] for sv in values} == set(measurands.split(","))
    phases = sorted(sv.get("phase") for sv in values if sv["measurand"] == "Current.Import")
    assert phases == ["L1", "L2", "L3"]


async def test_changed_heartbeat_interval_takes_effect_at_once(csms: Csms, station: Station):
    mark = await station.start()
    assert await change(csms, "HeartbeatInterval", "1") == "Accepted"
    changed = len(csms.ledger.entries)
    beat = await wait_call(csms, "Heartbeat", after=mark, timeout=3)
    assert beat.index >= changed
    assert beat.time - csms.ledger.entries[changed - 1].time <= 2.5


async def test_edited_yaml_value_is_applied_at_next_start(csms: Csms, station: Station):
    """docs/CONFIG.md: a value a technician edits in the YAML wins at the next start."""
    await station.start()
    assert await change(csms, "MeterValueSampleInterval", "30") == "Accepted"
    await station.stop()
    station.ocpp["MeterValueSampleInterval"] = 5
    await station.start()
    keys = await get_configuration(csms, "MeterValueSampleInterval")
    assert keys["MeterValueSampleInterval"]["value"] == "5"


async def test_configuration_keys_are_case_insensitive(csms: Csms, station: Station):
    """The key of ChangeConfiguration/GetConfiguration is a CiString50Type: OCPP 1.6
    compares it case-insensitively."""
    await station.start()
    assert await change(csms, "meterValueSampleInterval", "30") == "Accepted"
    answer = await csms.call(STATION_ID, "GetConfiguration", {"key": ["METERVALUESAMPLEINTERVAL"]})
    assert answer.get("unknownKey", []) == []
    (key,) = answer["configurationKey"]
    assert (key["key"].lower(), key["value"]) == ("metervaluesampleinterval", "30")


def sampled(entry, measurand: str) -> list[dict]:
    return [
        sv
        for mv in entry.payload["meterValue"]
        for sv in mv["sampledValue"]
        if sv.get("measurand") == measurand
    ]


async def test_soc_and_power_offered_can_be_sampled(csms: Csms, station: Station):
    """The simulated EV reports its state of charge, rising while it charges; the offered
    power is the offered current on the measured voltage of each phase."""
    await station.start()
    measurands = "SoC,Power.Offered,Current.Offered,Voltage"
    assert await change(csms, "MeterValuesSampledData", measurands) == "Accepted"
    assert await change(csms, "MeterValuesSampledData", "SoC,Power.Factor") == "Rejected"
    keys = await get_configuration(csms, "MeterValuesSampledData")
    assert keys["MeterValuesSampledData"]["value"] == measurands

    tx_id = await station.start_session(1, "TAG1")
    first = await wait_call(csms, "MeterValues", transactionId=tx_id)
    (soc,) = sampled(first, "SoC")
    assert (soc["unit"], soc["location"]) == ("Percent", "EV")
    (power,) = sampled(first, "Power.Offered")
    (current,) = sampled(first, "Current.Offered")
    volts = sum(float(sv["value"]) for sv in sampled(first, "Voltage"))
    assert power["unit"] == "W"
    assert float(power["value"]) == pytest.approx(float(current["value"]) * volts, abs=1)

    later = await csms.wait_for(
        lambda e: (
            e.kind == "call"
            and e.action == "MeterValues"
            and e.payload.get("transactionId") == tx_id
            and float(sampled(e, "SoC")[0]["value"]) > float(soc["value"])
        ),
        10,
        after=first.index,
    )
    assert float(sampled(later, "SoC")[0]["value"]) <= 100
