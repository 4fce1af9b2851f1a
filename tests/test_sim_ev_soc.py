"""The simulated EV's state of charge, as its meter reading reports it (the SoC measurand)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hal.sim import SimController, SimMeter


class FakeClock:
    """Monotonic clock the test advances by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
async def ev(tmp_path: Path):
    """A 3 × 230 V meter on a controller whose EV has a 10 kWh battery, arriving at 30 %."""
    clock = FakeClock()
    controller = SimController(1, ev_battery_wh=10_000.0, ev_arrival_soc_pct=30.0)
    meter = SimMeter(controller, tmp_path, voltage_v=230.0, phases=3, clock=clock)
    yield controller, meter, clock
    await meter.stop()


async def draw(controller: SimController, amps: float) -> None:
    await controller.offer_current(amps)
    await controller.set_contactor(True)


async def test_without_an_ev_the_reading_has_no_soc(ev) -> None:
    _, meter, _ = ev
    assert (await meter.read()).soc_pct is None


async def test_the_ev_arrives_with_its_soc_and_it_rises_with_the_energy_it_takes(ev) -> None:
    controller, meter, clock = ev
    controller.plug()
    assert (await meter.read()).soc_pct == pytest.approx(30.0)
    await draw(controller, 16.0)
    clock.advance(1800)  # 11 040 W for half an hour: 5 520 Wh of a 10 kWh battery
    assert (await meter.read()).soc_pct == pytest.approx(30.0 + 55.2)


async def test_the_soc_stays_still_while_the_ev_does_not_draw(ev) -> None:
    controller, meter, clock = ev
    controller.plug()
    await draw(controller, 16.0)
    clock.advance(600)
    drawn = (await meter.read()).soc_pct
    controller.ev_pause()
    clock.advance(600)
    assert (await meter.read()).soc_pct == pytest.approx(drawn)


async def test_the_soc_stops_at_100_percent(ev) -> None:
    controller, meter, clock = ev
    controller.plug()
    await draw(controller, 32.0)
    clock.advance(4 * 3600)
    assert (await meter.read()).soc_pct == 100.0


async def test_the_next_ev_arrives_with_its_own_soc(ev) -> None:
    controller, meter, clock = ev
    controller.plug()
    await draw(controller, 16.0)
    clock.advance(600)
    controller.unplug()
    assert (await meter.read()).soc_pct is None
    controller.plug()
    assert (await meter.read()).soc_pct == pytest.approx(30.0)
