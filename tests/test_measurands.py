"""Measurands: what each reads from a meter reading, and which a CSMS may configure."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargerd.config import Config, ConnectorConfig, CsmsConfig, StationInfo
from chargerd.measurands import MEASURANDS, Measurement, measurements
from chargerd.ocpp16 import keys as K
from chargerd.ocpp201.device_model import DeviceModel
from chargerd.ocpp201.variables import catalogue
from chargerd.store import Store
from hal.interfaces import MeterReading

THREE_PHASE = MeterReading(1000.0, 11040.0, (230.0, 231.0, 229.0), (16.0, 16.0, 16.0), 50.0)


def test_soc_is_the_evs_state_of_charge_in_percent_located_at_the_ev() -> None:
    reading = MeterReading(1000.0, soc_pct=41.5)
    assert measurements(reading, ["SoC"]) == [Measurement("SoC", 41.5, "Percent", None, "EV")]


def test_soc_is_left_out_when_nothing_reports_it() -> None:
    assert measurements(THREE_PHASE, ["SoC", "Energy.Active.Import.Register"]) == [
        Measurement("Energy.Active.Import.Register", 1000.0, "Wh", None)
    ]


def test_power_offered_is_the_offered_current_on_the_measured_voltage_of_every_phase() -> None:
    (offered,) = measurements(THREE_PHASE, ["Power.Offered"], offered_a=32.0)
    assert (offered.unit, offered.location) == ("W", "Outlet")
    assert offered.value == pytest.approx(32.0 * (230.0 + 231.0 + 229.0))


def test_power_offered_is_zero_when_nothing_is_offered() -> None:
    assert measurements(THREE_PHASE, ["Power.Offered"], offered_a=0.0)[0].value == 0.0


def test_power_offered_is_left_out_without_a_voltage_reading() -> None:
    assert measurements(MeterReading(1000.0), ["Power.Offered"], offered_a=32.0) == []


@pytest.mark.parametrize("key", ["MeterValuesSampledData", "StopTxnAlignedData"])
def test_the_1_6_measurand_keys_accept_soc_and_power_offered(key: str) -> None:
    assert K.parse(K.BY_NAME[key], "SoC, Power.Offered") == "SoC,Power.Offered"


def test_a_measurand_no_device_here_gives_is_refused_with_the_supported_list() -> None:
    with pytest.raises(ValueError) as refused:
        K.parse(K.BY_NAME["MeterValuesSampledData"], "Energy.Active.Import.Register,Power.Factor")
    assert "'Power.Factor'" in str(refused.value)
    assert all(m in str(refused.value) for m in MEASURANDS)


def test_the_max_length_keys_allow_every_supported_measurand() -> None:
    assert K.BY_NAME["MeterValuesSampledDataMaxLength"].default == len(MEASURANDS)


def test_the_2_0_1_sampled_data_variables_accept_soc_and_power_offered(tmp_path: Path) -> None:
    config = Config(
        path=Path("station.yaml"),
        station=StationInfo(id="CP-1", vendor="acme", model="wallbox"),
        csms=CsmsConfig(url="ws://127.0.0.1:9000/ocpp"),
        connectors=(ConnectorConfig(id=1, phases=3),),
    )
    store = Store(tmp_path)
    model = DeviceModel(list(catalogue(config)), store, None, None)
    component = {"name": "SampledDataCtrlr"}
    for name in ("TxUpdatedMeasurands", "TxEndedMeasurands"):
        status, _, reason = model.set(component, {"name": name}, "SoC,Power.Offered")
        assert (status, reason) == ("Accepted", None), name
    assert model.set(component, {"name": "TxUpdatedMeasurands"}, "Power.Factor")[0] == "Rejected"
    store.close()
