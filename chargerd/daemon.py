"""The daemon: wires hardware, station core, OCPP adapter, outbox and link together.

One asyncio loop. Every change to the core goes through `feed()`, which holds a lock
while the core's decisions are carried out, so hardware reactions (which arrive as new
events) are settled before the next outside input is looked at.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from enum import Enum
from typing import Any, Protocol, TypeVar

from hal.interfaces import DeviceError, HalEvent, MeterReading, PowerReading, TamperDetected
from hal.registry import Hardware

from . import logs, notify
from .adapter import Adapter
from .config import Config
from .control import ControlServer
from .core.model import (
    Decision,
    OfferCurrent,
    SetLock,
    StatusChanged,
    StopReason,
    SwitchContactor,
    TransactionEnded,
)
from .core.station import ConnectorSpec, Station
from .devices import Devices
from .link import Link, LinkSettings, station_url
from .parts import Parts, first_parts, later_parts
from .store import Store

log = logging.getLogger("chargerd")
T = TypeVar("T")

TICK_S = 1.0  # meter polling and timers
PARTS_AT_LATEST_S = 1.0  # the parts not needed to start are built by then (no CSMS yet)
DRAIN_BEFORE_RESET_S = 10  # how long a reset waits for queued messages to reach the CSMS


class Watcher(Protocol):
    """Follows the core's decisions (chargerctl sim tag waits for a card's fate)."""

    def see(self, decision: Decision) -> None: ...

    def settled(self) -> None:
        """The core has settled after an input: no decision or hardware event is left."""
        ...


class Outcome(Enum):
    STOPPED = 0
    SOFT_RESET = 1
    HARD_RESET = 2
    FAILED = 3  # a part of the daemon died: exit non-zero so systemd restarts it


def _ocpp16(config: Config, store: Store) -> Adapter:
    from .ocpp16.adapter import Ocpp16Adapter

    return Ocpp16Adapter(config, store)


def _ocpp201(config: Config, store: Store) -> Adapter:
    from .ocpp201.adapter import Ocpp201Adapter

    return Ocpp201Adapter(config, store)


# OCPP versions by name; each adapter is imported only when used.
ADAPTERS: dict[str, Callable[[Config, Store], Adapter]] = {"1.6": _ocpp16, "2.0.1": _ocpp201}


def make_adapter(config: Config, store: Store) -> Adapter:
    return ADAPTERS[config.csms.ocpp_version](config, store)


class Daemon(Devices):
    """One run of the station, from start-up to stop or reset."""

    def __init__(self, config: Config, hardware: Hardware):
        self.config = config
        self.hardware = {hw.connector: hw for hw in hardware.connectors}
        self.sim = hardware.sim
        self.store = Store(config.storage_dir, int(config.storage.max_queue_mb * 1e6))
        self.adapter = make_adapter(config, self.store)
        from .updates.part import Updates  # firmware; before the Station: it gives back

        updates = Updates(self)  # connectors it held for an installation in the last run
        self.station = Station(
            [ConnectorSpec(c.id, c.max_current_a, c.phases) for c in config.connectors],
            self.adapter.settings,
            auth_cache=self.store.auth_cache(),
            inoperative=self.store.inoperative_connectors(),
            reservations=self.store.reservations(),
        )
        self.station.take()  # statuses restored from storage are reported at boot, not now
        self.adapter.bind(self)
        self.link = Link(
            LinkSettings(
                url=station_url(config.csms.url, config.station.id),
                station_id=config.station.id,
                subprotocol=self.adapter.subprotocol,
                password=config.csms.password,
                ca_file=config.csms.ca_file,
                ping_interval_s=self.adapter.ping_interval_s,
                reconnect_min_s=config.csms.reconnect_min_s,
                reconnect_max_s=config.csms.reconnect_max_s,
            ),
            self.adapter.serve,
        )
        self._lock = asyncio.Lock()
        self._events: deque[HalEvent] = deque()
        self._event_arrived = asyncio.Event()
        self._lock_results: dict[int, bool] = {}
        self.device_problems = logs.DeviceProblems()  # logged once each, not every retry
        self.watchers: list[Watcher] = []
        # told of each good meter reading after the core had it (variable monitors)
        self.meter_listeners: list[Callable[[int, MeterReading, float], None]] = []
        # (connector, fault code) -> the device that raised it: chargerctl status names it
        self.fault_devices: dict[tuple[int, str], Any] = {}
        self.dc_output: dict[int, PowerReading] = {}  # last reading of each DC connector
        self._stop = asyncio.Event()
        self._outcome = Outcome.STOPPED
        self._tasks: list[asyncio.Task[Any]] = []  # run as long as the daemon
        self._background: list[asyncio.Task[Any]] = []
        self._running = False  # run() has started the core's tasks
        # feature blocks beside the core, by name (parts.py); adapters reach them as rt.parts.
        # Those the start does not need are built once the first BootNotification has left.
        self.parts = Parts(
            {"updates": updates, **first_parts(self)},
            later=lambda: later_parts(self, hardware),
            built=self._parts_built,
        )

    # --- the Runtime interface used by adapters -----------------------------------------------

    async def feed(self, event: Callable[[float], T]) -> T:
        async with self._lock:
            result = event(time.time())
            await self._settle()
            return result

    def lock_result(self, connector: int) -> bool:
        return self._lock_results.get(connector, False)

    def has_lock(self, connector: int) -> bool:
        hw = self.hardware.get(connector)
        return hw is not None and hw.controller.has_lock

    def request_reset(self, hard: bool, by: str = "the CSMS") -> None:
        self._spawn(self._reset(hard, by))

    def _spawn(self, coroutine: Any) -> None:
        """A task that may end before the daemon does (cancelled at shutdown if not)."""
        self._background.append(asyncio.create_task(coroutine))

    # --- hardware events and decisions ----------------------------------------------------

    def emit(self, event: HalEvent) -> None:
        """Sink for hardware events; may be called from inside a hardware call."""
        if isinstance(event, TamperDetected):  # evidence for the CSMS, not the connectors' state
            self.parts["security"].tamper(event.info)  # type: ignore[attr-defined]
            return
        self._events.append(event)
        self._event_arrived.set()

    async def _settle(self) -> None:
        """Carry out decisions and feed hardware reactions until both run dry."""
        while True:
            decisions = self.station.take()
            if not decisions and not self._events:
                break
            # The blocks see a batch before the hardware acts on it: a session's first offer
            # already respects its TxProfile (the smart part lowers the limit on seeing the
            # start, and an offer is carried out as no more than the connector's offer now).
            for decision in decisions:
                for part in self.parts.values():
                    part.see(decision)
            for decision in decisions:
                for watcher in self.watchers:
                    watcher.see(decision)
                await self._carry_out(decision)
            while self._events:
                event = self._events.popleft()
                log.debug("hardware: %s", event)
                self.station.hardware_event(event, time.time())
        self.adapter.flush_status()
        for watcher in list(self.watchers):
            watcher.settled()

    async def _carry_out(self, d: Decision) -> None:
        connector = d.transaction.connector if isinstance(d, TransactionEnded) else None
        hw = self.hardware.get(connector or getattr(d, "connector", 0))
        try:
            if isinstance(d, OfferCurrent) and hw:
                d = replace(d, amps=min(d.amps, self.station.connectors[d.connector].offered_a))
                await hw.controller.offer_current(d.amps)
                if hw.power is not None and self.station.connectors[d.connector].contactor_closed:
                    await self._dc_setpoint(hw, d.connector, d.amps)  # a new limit mid-session
            elif isinstance(d, SwitchContactor) and hw:
                if not d.closed and hw.power is not None:
                    await hw.power.switch(False)  # DC: no current before the contactor opens
                await hw.controller.set_contactor(d.closed)
                if d.closed and hw.power is not None:
                    offered = self.station.connectors[d.connector].offered_a
                    await self._dc_setpoint(hw, d.connector, offered)
                    await hw.power.switch(True)
            elif isinstance(d, SetLock) and hw:
                self._lock_results[d.connector] = await hw.controller.set_lock(d.locked)
            elif isinstance(d, TransactionEnded) and hw:
                self.adapter.on_decision(await self._final_reading(d, hw))
            elif isinstance(d, StatusChanged):
                error = "" if d.error_code == "NoError" else f" ({d.error_code})"
                log.info("connector %d: %s → %s%s", d.connector, d.old, d.new, error)
                self.adapter.on_decision(d)
            else:
                self.adapter.on_decision(d)
        except DeviceError as exc:
            log.error("connector %s: %s failed: %s", getattr(d, "connector", "?"), d, exc)

    async def _pump_events(self) -> None:
        while True:
            await self._event_arrived.wait()
            self._event_arrived.clear()
            await self.feed(lambda now: None)  # _settle feeds the queued events

    async def _ticker(self) -> None:
        """Poll meters and run timers; ping the systemd watchdog only while this loop turns,
        so a stuck core gets the daemon restarted."""
        watchdog_every = notify.watchdog_interval_s()
        last_ping = 0.0
        while True:
            await asyncio.sleep(TICK_S)
            await self._read_meters()
            await self.feed(self.station.tick)
            if watchdog_every is not None and time.monotonic() - last_ping >= watchdog_every:
                notify.watchdog()
                last_ping = time.monotonic()

    # --- life cycle -----------------------------------------------------------------------

    async def _recover(self) -> None:
        """End transactions left open by the last run (killed, or stopped for a restart)."""
        clean = self.store.get_meta("clean_shutdown") == "1"
        self.store.set_meta("clean_shutdown", "0")
        reason = StopReason.Reboot if clean else StopReason.PowerLoss
        for tx in self.store.open_transactions():
            log.warning("transaction %s was open at start-up: ending it (%s)", tx.id, reason)
            await self.feed(lambda now, tx=tx: self.station.end_interrupted(tx, reason, now))

    async def _reset(self, hard: bool, by: str) -> None:
        await asyncio.sleep(0.1)  # let the Reset answer reach the CSMS first
        log.warning("%s reset requested by %s", "hard" if hard else "soft", by)
        self.parts["security"].events.record(  # type: ignore[attr-defined]
            "ResetOrReboot", f"{'hard' if hard else 'soft'} reset requested by {by}"
        )
        await self.feed(lambda now: self.station.reset(hard, now))
        deadline = time.monotonic() + DRAIN_BEFORE_RESET_S
        while self.store.outbox_depth() and self.link.state == "connected":
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        self._outcome = Outcome.HARD_RESET if hard else Outcome.SOFT_RESET
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()

    def _task_ended(self, task: asyncio.Task[Any]) -> None:
        """These tasks run for the daemon's life: one that dies leaves it blind or mute."""
        if task.cancelled() or self._stop.is_set():
            return
        if task.get_name().startswith("part:") and task.exception() is None:
            return  # a feature block with nothing to do (parts.py)
        log.critical("%s died; stopping", task.get_coro(), exc_info=task.exception())
        self._outcome = Outcome.FAILED
        self._stop.set()

    async def run(
        self, control: ControlServer | None = None, on_ready: Callable[[], Any] = lambda: None
    ) -> Outcome:
        await self._start_hardware()
        await self._read_meters()
        await self._recover()
        await self.feed(lambda now: None)
        if control is not None:
            control.attach(self)
        self._tasks += [
            asyncio.create_task(self._pump_events()),
            asyncio.create_task(self._ticker()),
            asyncio.create_task(self.link.run()),
        ]
        for task in self._tasks:
            task.add_done_callback(self._task_ended)
        self._running = True
        if self.parts.complete:  # something wanted a part already
            self._start_parts()
        else:  # once the first BootNotification has left (or no CSMS answers)
            self._spawn(self._build_parts_later())
        on_ready()
        log.info(
            "station %s up: %d connectors, OCPP %s to %s",
            self.config.station.id, len(self.hardware), self.config.csms.ocpp_version,
            self.link.settings.url,
        )  # fmt: skip
        try:
            await self._stop.wait()
        finally:
            await self._shutdown()
        return self._outcome

    def _parts_built(self) -> None:
        """Every part exists: the adapter's block messages attach to them, then they run."""
        self.adapter.parts_built()
        if self._running:
            self._start_parts()

    def _start_parts(self) -> None:
        if self._stop.is_set():
            return
        for name, part in self.parts.built().items():
            task = asyncio.create_task(part.run(), name=f"part:{name}")
            task.add_done_callback(self._task_ended)
            self._tasks.append(task)

    async def _build_parts_later(self) -> None:
        try:
            await self.parts.build_when_wanted(PARTS_AT_LATEST_S)
        except Exception:  # as when a part could not be built at the start
            log.critical("building the feature blocks failed; stopping", exc_info=True)
            self._outcome = Outcome.FAILED
            self._stop.set()

    async def _shutdown(self) -> None:
        tasks = self._tasks + self._background
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._switch_off()
        self.store.set_meta("clean_shutdown", "1")
        self.store.close()

    # --- for chargerctl (its modules imported when first asked: not part of the start) ----

    def status(self) -> dict[str, Any]:
        from . import commands

        return commands.status(self)

    async def sim_command(self, command: str, args: list[str]) -> str:
        from . import commands

        return await commands.sim_command(self, command, args)

    async def command(self, command: str, args: list[str]) -> str:
        from . import technician

        return await technician.run(self, command, args)
