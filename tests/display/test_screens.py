"""The display part on a running daemon feeds the screens: the OpenEVSE LCD of a simulated
controller on a pty (`sim.wire`), written by the real RAPI driver over the controller's
line, and given back to the firmware when nothing is left to show and at shutdown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from station_files import station_yaml

from chargerd.config import load_config
from chargerd.daemon import Daemon
from chargerd.display.messages import DisplayMessage, Priority
from hal.registry import build_hardware

WIRED = """\
- id: 1
  controller: {driver: rapi, port: /dev/ttyAMA0, timeout_s: 0.5}
  meter: {driver: sim}
  display: {driver: rapi, page_s: 1}
"""


async def until(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.05)


async def test_messages_reach_the_lcd_and_the_screen_goes_back_to_the_firmware(tmp_path: Path):
    config = load_config(station_yaml(tmp_path, WIRED, "sim: {wire: true}\n"))
    hardware = await build_hardware(config)
    daemon = Daemon(config, hardware)
    running = asyncio.create_task(daemon.run())
    try:
        lcd = hardware.sim.rapi[1].lcd
        part = daemon.parts["display"]
        part.put(DisplayMessage(1, Priority.InFront, "Welcome", set_at=1.0))
        await until(lambda: lcd.rows == ["Welcome         ", " " * 16], "Welcome on the LCD")
        assert not lcd.firmware

        part.clear(1)
        await until(lambda: lcd.firmware, "the screen back to the firmware")

        long = "Charging costs 0.30 EUR per kWh here"
        part.put(DisplayMessage(2, Priority.NormalCycle, long, set_at=2.0))
        await until(lambda: lcd.rows[0] == "Charging costs  ", "the first page")
        await until(lambda: lcd.rows[0] == "here            ", "the second page")
    finally:
        daemon.stop()
        await running
        await hardware.close()
    assert lcd.firmware  # handed back at shutdown
