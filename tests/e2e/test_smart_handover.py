"""Under a site limit, on the wire: a lowered connector's freed current is offered to another
one only after the lowered EV was measured following; current an EV does not draw moves at
once. The daemon runs in this process with two simulated OpenEVSE controllers on ptys (so
their `$SC` lines can be read), the simulated grid meter and free charging (no CSMS)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chargerd.config import load_config
from chargerd.daemon import Daemon
from hal.registry import build_hardware

from .conftest import wait_until
from .wire_station import wire_station

SITE_A = 33  # with the 1 A margin and no house load: 32 A for the chargers
WATCH_S = 0.005  # how often the wires are looked at


@dataclass(frozen=True)
class Seen:
    at: float  # time.monotonic() when seen
    what: str  # "SC 16 V@1": an offer on connector 1's wire; "read 1: 16.0": a meter reading


def config(tmp_path: Path) -> Path:
    site = {"max_current_a": SITE_A, "meter": {"driver": "sim"}}
    return wire_station(tmp_path, connectors=2, auth={"free": True}, site=site)


async def test_freed_current_reaches_the_other_connector_after_the_lowered_ev_followed(
    tmp_path: Path,
) -> None:
    cfg = load_config(config(tmp_path))
    hardware = await build_hardware(cfg)
    daemon = Daemon(cfg, hardware)
    running = asyncio.create_task(daemon.run())
    sim = hardware.sim
    devices = sim.rapi
    seen: list[Seen] = []
    grid_peak = [0.0]

    def read(connector: int, reading: Any, at: float) -> None:
        seen.append(Seen(time.monotonic(), f"read {connector}: {max(reading.current_a):.1f}"))

    async def watch() -> None:
        """Every $SC each controller hears, in order, and the grid meter's highest reading."""
        heard = {n: 0 for n in devices}
        while True:
            for n, device in devices.items():
                for frame in device.received[heard[n] :]:
                    if frame.command == "SC":
                        seen.append(Seen(time.monotonic(), f"SC {' '.join(frame.args)}@{n}"))
                heard[n] = len(device.received)
            grid_peak[0] = max(grid_peak[0], sim.world.grid_meter.current_a)
            await asyncio.sleep(WATCH_S)

    def first(what: str, after: float = 0.0) -> Seen | None:
        return next((s for s in seen if s.what == what and s.at >= after), None)

    watcher = asyncio.create_task(watch())
    try:
        await wait_until(lambda: daemon.station.connectors[1].status.value == "Available",
                         "the daemon up")  # fmt: skip
        daemon.meter_listeners.append(read)
        sim.plug(1)  # free charging: the session starts at once, alone under the site
        await wait_until(lambda: devices[1].controller.current_a == 32, "EV 1 drawing 32 A")

        # a second EV: 16 A each, but connector 1's EV draws 32 A until it follows
        mark = time.monotonic()
        sim.plug(2)
        await wait_until(lambda: first("SC 16 V@2", mark) is not None, "$SC 16 on wire 2")
        lowered, raised = first("SC 16 V@1", mark), first("SC 16 V@2", mark)
        assert lowered and raised, seen
        followed = next(
            (s for s in seen if s.what.startswith("read 1: ") and s.at >= lowered.at - WATCH_S
             and float(s.what.split(": ")[1]) <= 16.5), None,
        )  # fmt: skip
        assert followed is not None and followed.at <= raised.at, [
            s.what for s in seen if s.at >= mark
        ]
        assert lowered.at < raised.at
        # the pilot never offered 16 A on 2 while 1 was still offered 32 A
        assert first("SC 32 V@1", lowered.at) is None

        # EV 2 takes only 10 A: its offer comes down to 12 A and connector 1 gets the
        # 4 A it does not draw at once (that EV has already followed: no wait)
        mark = time.monotonic()
        sim.ev_max(2, "10")
        await wait_until(lambda: first("SC 20 V@1", mark) is not None, "$SC 20 on wire 1")
        reclaimed, given = first("SC 12 V@2", mark), first("SC 20 V@1", mark)
        assert reclaimed and given, seen
        # in the same pass (milliseconds apart), not after a meter reading of connector 2
        # showing it follows 12 A (the meters are read once a second)
        assert abs(given.at - reclaimed.at) < 0.5, (reclaimed, given)
        assert grid_peak[0] <= SITE_A - 1  # the grid connection never carried more
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        daemon.stop()
        await running
        await hardware.close()
