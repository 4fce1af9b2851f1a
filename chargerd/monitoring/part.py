"""The monitoring block on the daemon (OCPP 2.0.1 N02-N08): the monitors (monitors.py)
kept in SQLite, fed with each meter reading the daemon takes (Daemon.meter_listeners)
and, each second, with the station's own values (readings.py); their events are sent as
NotifyEvent.

While the CSMS cannot be reached, an event whose severity is at most
MonitoringCtrlr.OfflineQueuingSeverity waits in the persisted outbox (it survives a
restart); the others are dropped, as the spec allows (N07/N08).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hal.interfaces import MeterReading

from ..core.model import Decision
from .monitors import (
    HARDWIRED,
    LOWER,
    MAX_SEVERITY,
    PRECONFIGURED,
    UPPER,
    Monitor,
    MonitorEvent,
    Monitors,
    Reading,
    renumbered,
)
from .readings import (
    STORAGE,
    TEMPERATURE,
    THERMAL,
    controller_key,
    cpu_temperature,
    evse_key,
    evse_values,
    station_values,
)

if TYPE_CHECKING:
    from ..daemon import Daemon

log = logging.getLogger("chargerd.monitoring")

SCHEMA = """
CREATE TABLE IF NOT EXISTS monitoring_monitors (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
"""
BASE_KEY, LEVEL_KEY = "monitoring.base", "monitoring.level"  # store meta
NEXT_ID_KEY = "monitoring.next_id"  # store meta: the next custom monitor's id
TRIPPED_KEY = "monitoring.tripped"  # store meta: the threshold monitors crossed now
FIRST_CUSTOM_ID = 1000  # below: the factory's monitors, numbered as built
TICK_S = 1.0  # the station's values and the periods: as often as the daemon reads meters
LOW_STORAGE_B = 50_000_000  # the outbox and the transactions need room to be written
HOT_CPU_C = 80.0
OVERPOWER = 1.1  # more power than the EVSE may give: a meter or a power path problem
NOMINAL_VOLTAGE_V = 230.0


def factory_monitors(daemon_config: Any, thermal: Path = THERMAL) -> list[Monitor]:
    """The station's own monitors: hard-wired (cannot be cleared) and preconfigured
    (FactoryDefault brings them back)."""
    storage = controller_key(STORAGE)
    built = [
        Monitor(
            0,
            storage,
            {"name": "Controller"},
            {"name": STORAGE},
            LOWER,
            LOW_STORAGE_B,
            2,
            origin=HARDWIRED,
        ),  # fmt: skip
    ]
    if cpu_temperature(thermal) is not None:
        built.append(
            Monitor(
                0,
                controller_key(TEMPERATURE),
                {"name": "Controller"},
                {"name": TEMPERATURE},
                UPPER,
                HOT_CPU_C,
                3,
                origin=PRECONFIGURED,
            )  # fmt: skip
        )
    for c in daemon_config.connectors:
        max_power = c.max_current_a * c.phases * NOMINAL_VOLTAGE_V
        built.append(
            Monitor(
                0,
                evse_key(c.id, "Power"),
                {"name": "EVSE", "evse": {"id": c.id}},
                {"name": "Power"},
                UPPER,
                round(max_power * OVERPOWER),
                4,
                origin=PRECONFIGURED,
            )  # fmt: skip
        )
    return renumbered(built, 1)


class MonitoringPart:
    name = "monitoring"

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.store = daemon.store
        self.db = daemon.store.db
        self.started = time.monotonic()
        with self.db:
            self.db.executescript(SCHEMA)
        factory = tuple(factory_monitors(daemon.config))
        saved = [
            Monitor.from_json(json.loads(body))
            for (body,) in self.db.execute("SELECT body FROM monitoring_monitors ORDER BY id")
        ]
        base = self.store.get_meta(BASE_KEY)
        if base is None:  # never changed: the factory's preconfigured monitors
            preconfigured = {m.id: m for m in factory if m.origin == PRECONFIGURED}
        else:
            preconfigured = {m.id: m for m in saved if m.origin == PRECONFIGURED}
        self.monitors = Monitors(
            factory=factory,
            level=int(self.store.get_meta(LEVEL_KEY) or MAX_SEVERITY),
            base=base or "All",
            custom={m.id: m for m in saved if m.origin not in (PRECONFIGURED, HARDWIRED)},
            preconfigured=preconfigured,
        )
        self._tripped = set(json.loads(self.store.get_meta(TRIPPED_KEY) or "[]"))
        self.monitors.restore_tripped(self._tripped)
        self._wake = asyncio.Event()

    # --- what the CSMS changes (ocpp201/monitoring.py) ---------------------------------------

    def new_id(self) -> int:
        next_id = int(self.store.get_meta(NEXT_ID_KEY) or FIRST_CUSTOM_ID)
        self.store.set_meta(NEXT_ID_KEY, str(next_id + 1))  # an id is never given twice
        return next_id

    def put(self, monitor: Monitor) -> None:
        self.monitors.put(monitor, time.time(), self.values().get(monitor.key))
        self._save()

    def remove(self, monitor_id: int) -> bool:
        removed = self.monitors.remove(monitor_id)
        if removed:
            self._save()
        return removed

    def set_base(self, base: str) -> None:
        self.monitors.set_base(base)
        self._save()

    def set_level(self, level: int) -> None:
        self.monitors.level = level
        self.store.set_meta(LEVEL_KEY, str(level))

    def _save(self) -> None:
        kept = [m for m in self.monitors.all() if m.origin != HARDWIRED]
        with self.db:  # durable: what the CSMS was told Accepted survives a power cut
            self.db.execute("DELETE FROM monitoring_monitors")
            self.db.executemany(
                "INSERT INTO monitoring_monitors (id, body) VALUES (?, ?)",
                [(m.id, json.dumps(m.to_json())) for m in kept],
            )
            self.db.execute(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)", (BASE_KEY, self.monitors.base)
            )

    # --- readings -------------------------------------------------------------------------

    def values(self) -> dict[str, Reading]:
        """Every monitorable value known now, by device-model key."""
        out = station_values(self.daemon.config.storage_dir, time.monotonic() - self.started)
        for connector, reading in self.daemon.station.readings.items():
            out.update(evse_values(connector, reading))
        return out

    def _transaction_on(self, evse: int | None) -> bool:
        connector = self.daemon.station.connectors.get(evse) if evse is not None else None
        if connector is None:
            return bool(self.daemon.station.transactions())
        return connector.transaction is not None

    def meter_read(self, connector: int, reading: MeterReading, now: float) -> None:
        """A meter reading the daemon took (Daemon.meter_listeners): the EVSE's monitors."""
        if not self._active():
            return
        in_tx = self._transaction_on(connector)
        events = [
            event
            for key, value in evse_values(connector, reading).items()
            for event in self.monitors.reading(key, value, now, in_tx)
        ]
        self._keep_tripped()
        if events:
            self.send(events, now)

    def _keep_tripped(self) -> None:
        """Which thresholds are crossed, kept so that a restart does not forget to clear
        them (N07.FR.14)."""
        tripped = self.monitors.tripped()
        if tripped != self._tripped:
            self._tripped = tripped
            self.store.set_meta(TRIPPED_KEY, json.dumps(sorted(tripped)))

    def tick(self, now: float) -> list[MonitorEvent]:
        """The station's own values, and the periodic monitors whose time has come."""
        values = self.values()
        events: list[MonitorEvent] = []
        for key, value in values.items():
            if not key.startswith("EVSE/"):  # those come with each meter read
                events += self.monitors.reading(key, value, now, self._transaction_on(None))
        events += self.monitors.due(now, values.get, self._transaction_on)
        self._keep_tripped()
        return events

    # --- the Part interface ---------------------------------------------------------------

    async def run(self) -> None:
        if self.daemon.config.csms.ocpp_version != "2.0.1":
            return
        self.daemon.meter_listeners.append(self.meter_read)
        while True:
            await asyncio.sleep(TICK_S)
            if self._active():
                now = time.time()
                events = self.tick(now)
                if events:
                    self.send(events, now)

    def _active(self) -> bool:
        return self.daemon.config.csms.ocpp_version == "2.0.1" and self._enabled()

    def _enabled(self) -> bool:
        dm = getattr(self.daemon.adapter, "dm", None)
        return dm is not None and bool(dm.value("MonitoringCtrlr", "Enabled"))

    def see(self, decision: Decision) -> None:
        pass  # readings come from the daemon's meter reads (meter_read), not decisions

    def status(self, into: dict[str, Any]) -> None:
        if self.daemon.config.csms.ocpp_version != "2.0.1":
            return  # OCPP 1.6 has no variable monitoring
        into["monitoring"] = {
            "base": self.monitors.base,
            "level": self.monitors.level,
            "monitors": len(self.monitors.all()),
        }

    # --- NotifyEvent ------------------------------------------------------------------------

    def send(self, events: list[MonitorEvent], now: float) -> None:
        """One NotifyEvent now; offline, the events severe enough wait in the outbox."""
        from ..ocpp201.adapter import EVENT_ID_KEY  # the adapter's NotifyEvent counter
        from ..ocpp201.payloads import timestamp

        adapter: Any = self.daemon.adapter
        online = adapter.outbox.connected and getattr(adapter, "_online", False)
        if not online:
            limit = int(adapter.dm.value("MonitoringCtrlr", "OfflineQueuingSeverity"))
            dropped = [e for e in events if e.monitor.severity > limit]
            events = [e for e in events if e.monitor.severity <= limit]
            for e in dropped:
                log.info("offline: event of monitor %d (severity %d) dropped",
                         e.monitor.id, e.monitor.severity)  # fmt: skip
            if not events:
                return
        event_id = int(self.store.get_meta(EVENT_ID_KEY) or 0)
        data = []
        for e in events:
            event_id += 1
            tx = self._transaction_id(e.monitor) if e.monitor.transaction else None
            data.append(e.wire(event_id, timestamp(e.at), tx))
        self.store.set_meta(EVENT_ID_KEY, str(event_id))
        payload = {"generatedAt": timestamp(now), "seqNo": 0, "eventData": data}
        if online:
            adapter.outbox.post("NotifyEvent", payload)
        else:
            self.store.enqueue("NotifyEvent", payload, None, now)
            adapter.outbox.wake()

    def _transaction_id(self, monitor: Monitor) -> str | None:
        connector = self.daemon.station.connectors.get(monitor.evse or 0)
        tx = connector.transaction if connector is not None else None
        return tx.id if tx is not None else None
