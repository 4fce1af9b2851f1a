"""The OpenEVSE LCD driver (hal/drivers/rapi_display.py) against the simulated controller on
a pty: what the LCD shows, as the firmware reads `$FP` (hal/sim/rapi_lcd.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from station_files import station_yaml

from chargerd.config import ConfigError, load_config
from hal.drivers.rapi_display import RapiDisplay
from hal.interfaces import DeviceError
from hal.options import DeviceConfig
from hal.registry import build_hardware
from hal.sim.display import SimDisplay
from tests.rapi_rig import Events, rigs


async def test_a_message_is_printed_and_the_screen_goes_back_to_the_firmware():
    async with rigs() as build:
        rig = await build()
        lcd = rig.device.lcd
        display = RapiDisplay(rig.controller)
        await display.start(Events())
        assert lcd.firmware

        await display.show(["Price 0.30/kWh", "Welcome"])
        assert lcd.rows == ["Price 0.30/kWh  ", "Welcome         "]
        assert not lcd.firmware  # the firmware does not draw over it

        await display.clear()
        assert lcd.firmware
        assert "F0 0" in rig.commands() and rig.commands()[-1] == "F0 1"


async def test_a_new_text_overwrites_every_cell_of_the_last_one():
    async with rigs() as build:
        rig = await build()
        display = RapiDisplay(rig.controller)
        await display.show(["A much longer one", "and a second row"])
        await display.show(["Short"])
        assert rig.device.lcd.rows == ["Short           ", " " * 16]


async def test_runs_of_spaces_survive_the_firmwares_buffer_and_token_limits():
    async with rigs() as build:
        rig = await build()
        display = RapiDisplay(rig.controller)
        row = "1  2  3  4  5  6"
        # show() raises when the firmware refuses a line (over 32 bytes, over 10 tokens)
        await display.show([row, "x              y"])
        assert rig.device.lcd.rows == [row, "x              y"]


async def test_characters_a_rapi_frame_cannot_carry_are_replaced():
    async with rigs() as build:
        rig = await build()
        display = RapiDisplay(rig.controller)
        await display.show(["12:30 5$ €"])
        assert rig.device.lcd.rows[0] == "12.30 5? ?      "


async def test_a_longer_text_is_wrapped_at_spaces_and_paged():
    async with rigs() as build:
        rig = await build()
        lcd = rig.device.lcd
        display = RapiDisplay(rig.controller, page_s=0.2)
        await display.show(["Charging at 0.30 EUR/kWh, idle fee 5 EUR/h after 30 min"])
        assert lcd.rows == ["Charging at 0.30", "EUR/kWh, idle   "]
        await rig.until(lambda: lcd.rows == ["fee 5 EUR/h     ", "after 30 min    "])
        await rig.until(lambda: lcd.rows[0] == "Charging at 0.30")  # round and round
        await display.clear()
        writes = lcd.writes
        await rig.controller.offer_current(16)  # the line is free; no page comes any more
        assert lcd.firmware and lcd.writes == writes
        await display.stop()


async def test_the_display_and_the_controller_share_one_serial_line():
    async with rigs() as build:
        rig = await build()
        display = RapiDisplay(rig.controller, page_s=0.1)
        await display.show(["page one", "", "page two", ""])  # pages while charging
        await rig.charging(16)
        assert rig.device.pilot_amps == 16
        await rig.until(lambda: rig.device.lcd.rows[0].startswith("page two"))
        await display.stop()


async def test_a_controller_built_without_an_lcd_is_a_device_error():
    async with rigs() as build:
        rig = await build(device_refuse=("FP",))
        display = RapiDisplay(rig.controller)
        with pytest.raises(DeviceError, match="no LCD"):
            await display.show(["hello"])


# --- in the station's YAML ---------------------------------------------------------------

WIRED = """\
- id: 1
  controller: {driver: rapi, port: /dev/ttyAMA0, timeout_s: 0.3}
  meter: {driver: sim}
  display: {driver: rapi, page_s: 2}
- id: 2
  display: {driver: sim}
"""


async def test_the_rapi_display_is_built_on_its_connectors_controller(tmp_path: Path):
    config = load_config(station_yaml(tmp_path, WIRED, "sim: {wire: true}\n"))
    assert config.connectors[0].display == DeviceConfig("rapi", {"page_s": 2})
    hardware = await build_hardware(config)
    try:
        first, second = hardware.connectors
        assert isinstance(first.display, RapiDisplay) and first.display.page_s == 2
        assert first.display.controller is first.controller  # one serial line, one owner
        await first.controller.start(Events())
        await first.display.show(["Wired"])
        assert hardware.sim.rapi[1].lcd.rows[0] == "Wired           "
        assert isinstance(second.display, SimDisplay)
        await first.display.stop()
        await first.controller.stop()
    finally:
        await hardware.close()


def test_a_rapi_display_needs_a_rapi_controller(tmp_path: Path):
    path = station_yaml(tmp_path, "- id: 1\n  display: {driver: rapi}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [error] = [e for e in caught.value.errors if "display" in e]
    assert "connectors[0].display.driver" in error and "RAPI controller" in error
    assert error.startswith(f"{path}:")


def test_unknown_display_drivers_and_options_are_refused(tmp_path: Path):
    path = station_yaml(tmp_path, "- id: 1\n  display: {driver: oled, size: 2}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert any("'oled' is not one of 'sim', 'rapi'" in e for e in caught.value.errors)


def test_the_station_display_is_simulated_or_none(tmp_path: Path):
    config = load_config(station_yaml(tmp_path, "- id: 1\n", "display: {driver: sim}\n"))
    assert config.station_display == DeviceConfig("sim")
    path = station_yaml(tmp_path, "- id: 1\n", "display: {driver: rapi}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [error] = caught.value.errors
    assert "display.driver" in error and "connectors[].display" in error
