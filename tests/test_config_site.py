"""`site:` the grid connection the connectors share: its limit, margin, fallback and grid
meter, with errors a technician can act on."""

from __future__ import annotations

from pathlib import Path

import pytest
from station_files import station_yaml

from chargerd.config import ConfigError, load_config

ONE = "- {id: 1}\n- {id: 2}\n"


def load(tmp_path: Path, site: str):
    return load_config(station_yaml(tmp_path, ONE, top=site))


def errors(tmp_path: Path, site: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, site)
    return caught.value.errors


def test_without_a_site_there_is_no_site_limit(tmp_path: Path):
    assert load(tmp_path, "").site is None


def test_a_site_limit_with_the_defaults(tmp_path: Path):
    site = load(tmp_path, "site: {max_current_a: 40}\n").site
    assert (site.max_current_a, site.margin_a, site.fallback_current_a, site.meter) == (
        40, 1, 6, None)  # fmt: skip


def test_a_site_with_a_modbus_grid_meter(tmp_path: Path):
    text = (
        "site:\n  max_current_a: 63\n  margin_a: 2\n  fallback_current_a: 10\n"
        "  meter: {driver: modbus, model: sdm630, port: /dev/ttyUSB1, unit: 5}\n"
    )
    site = load(tmp_path, text).site
    assert (site.max_current_a, site.margin_a, site.fallback_current_a) == (63, 2, 10)
    assert site.meter.driver == "modbus" and site.meter.options["unit"] == 5


def test_a_simulated_grid_meter(tmp_path: Path):
    site = load(tmp_path, "site: {max_current_a: 32, meter: {driver: sim}}\n").site
    assert site.meter.driver == "sim"


def test_max_current_is_required(tmp_path: Path):
    (error,) = errors(tmp_path, "site: {margin_a: 2}\n")
    assert "site.max_current_a: required key missing" in error


def test_a_site_below_one_charging_session_is_refused(tmp_path: Path):
    (error,) = errors(tmp_path, "site: {max_current_a: 4}\n")
    assert "site.max_current_a: 4 is out of range; allowed: a number from 6 to 10000" in error


def test_a_fallback_between_0_and_6_a_cannot_charge_and_is_refused(tmp_path: Path):
    (error,) = errors(tmp_path, "site: {max_current_a: 32, fallback_current_a: 3}\n")
    assert "site.fallback_current_a: 3 is out of range; allowed: 0 (pause" in error
    assert load(tmp_path, "site: {max_current_a: 32, fallback_current_a: 0}\n").site


def test_a_fallback_above_the_site_limit_is_refused(tmp_path: Path):
    (error,) = errors(tmp_path, "site: {max_current_a: 16, fallback_current_a: 20}\n")
    assert "site.fallback_current_a: 20 is above max_current_a (16)" in error


def test_a_margin_eating_the_whole_site_is_refused(tmp_path: Path):
    (error,) = errors(tmp_path, "site: {max_current_a: 16, margin_a: 16}\n")
    assert "site.margin_a: 16 leaves nothing of max_current_a (16)" in error


def test_an_unknown_key_is_named_with_a_suggestion(tmp_path: Path):
    (error,) = errors(tmp_path, "site: {max_current_a: 16, margin: 2}\n")
    assert "site.margin: unknown key" in error and "did you mean 'margin_a'?" in error


def test_a_grid_meter_option_error_is_on_its_line(tmp_path: Path):
    text = "site:\n  max_current_a: 32\n  meter: {driver: modbus, model: sdm630, unit: 5}\n"
    errs = errors(tmp_path, text)
    assert any(e.startswith(f"{tmp_path / 'station.yaml'}:") and "site.meter" in e for e in errs)


def test_a_grid_meter_of_an_unknown_driver_is_refused(tmp_path: Path):
    errs = errors(tmp_path, "site: {max_current_a: 32, meter: {driver: nosuch}}\n")
    assert any("site.meter.driver" in e for e in errs)
