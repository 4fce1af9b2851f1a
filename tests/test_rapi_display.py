"""The OpenEVSE LCD driver (hal/drivers/rapi_display.py) against the simulated controller on
a pty: what the LCD shows, as the firmware reads `$FP` (hal/sim/rapi_lcd.py)."""

from __future__ import annotations

import pytest

from hal.drivers.rapi_display import RapiDisplay
from hal.interfaces import DeviceError
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
