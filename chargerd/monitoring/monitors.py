"""Variable monitors (OCPP 2.0.1 N02-N08), without I/O: what is watched, and which events
a reading or the passing of time gives.

A `Monitor` watches one variable (named by its device-model key, `Variable.key`). The
`Monitors` set is fed readings (`reading(key, value, now, in_transaction)`) and the clock
(`due(now, read)`) and returns the `MonitorEvent`s to send; it never reads a clock or a
device itself. Which monitors exist follows the monitoring base (All / FactoryDefault /
HardWiredOnly); which events are told follows the monitoring level (severity <= level).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .levels import BASES, MAX_SEVERITY  # noqa: F401 - shared with the device model

Reading = bool | int | float | str

UPPER, LOWER, DELTA = "UpperThreshold", "LowerThreshold", "Delta"
PERIODIC, CLOCK_ALIGNED = "Periodic", "PeriodicClockAligned"
MONITOR_TYPES = (UPPER, LOWER, DELTA, PERIODIC, CLOCK_ALIGNED)
THRESHOLDS = (UPPER, LOWER)
PERIODICS = (PERIODIC, CLOCK_ALIGNED)

# eventNotificationType per origin of the monitor
CUSTOM, PRECONFIGURED, HARDWIRED = "CustomMonitor", "PreconfiguredMonitor", "HardWiredMonitor"
DAY_S = 86400


@dataclass(frozen=True)
class Monitor:
    """One monitor. `component` and `variable` are the wire ComponentType / VariableType;
    `key` is the device-model key of that variable (what readings are named by)."""

    id: int
    key: str
    component: dict[str, Any]
    variable: dict[str, Any]
    type: str
    value: float  # the threshold, the delta, or the period in seconds
    severity: int
    transaction: bool = False  # watched only while a transaction runs on its EVSE
    origin: str = CUSTOM

    @property
    def evse(self) -> int | None:
        evse = self.component.get("evse")
        return evse["id"] if evse else None

    def wire(self) -> dict[str, Any]:
        """VariableMonitoringType of NotifyMonitoringReport."""
        return {
            "id": self.id,
            "transaction": self.transaction,
            "value": self.value,
            "type": self.type,
            "severity": self.severity,
        }

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Monitor:
        return cls(**data)


@dataclass(frozen=True)
class MonitorEvent:
    """What a monitor saw: one EventDataType of a NotifyEvent (without its eventId)."""

    monitor: Monitor
    actual: Reading
    trigger: str  # Alerting (a threshold), Delta, Periodic
    at: float
    cleared: bool = False

    def wire(self, event_id: int, timestamp: str, transaction_id: str | None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "eventId": event_id,
            "timestamp": timestamp,
            "trigger": self.trigger,
            "actualValue": text(self.actual)[:2500],
            "eventNotificationType": self.monitor.origin,
            "component": self.monitor.component,
            "variable": self.monitor.variable,
            "variableMonitoringId": self.monitor.id,
        }
        if self.cleared:
            data["cleared"] = True
        if transaction_id is not None:
            data["transactionId"] = transaction_id
        return data


def text(value: Reading) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else str(value)
    return str(value)


@dataclass
class _Watch:
    """What a monitor remembers between readings."""

    tripped: bool = False  # a threshold is crossed (an Alerting event was sent)
    reference: Reading | None = None  # Delta: the value of the last event (or first reading)
    next_due: float | None = None  # Periodic: when the next event is due


def next_aligned(now: float, interval: float) -> float:
    """The next moment after `now` that is a whole number of `interval`s after midnight
    UTC (PeriodicClockAligned, like AlignedDataCtrlr.Interval)."""
    midnight = now - now % DAY_S
    steps = math.floor((now - midnight) / interval) + 1
    return midnight + steps * interval


@dataclass
class Monitors:
    """The station's monitors, their state, the base and the level."""

    factory: tuple[Monitor, ...] = ()  # hard-wired and preconfigured monitors, as built
    level: int = MAX_SEVERITY
    base: str = "All"
    custom: dict[int, Monitor] = field(default_factory=dict)
    preconfigured: dict[int, Monitor] = field(default_factory=dict)  # as the CSMS left them
    _watch: dict[int, _Watch] = field(default_factory=dict)

    # --- which monitors exist ---------------------------------------------------------------

    @property
    def hardwired(self) -> dict[int, Monitor]:
        return {m.id: m for m in self.factory if m.origin == HARDWIRED}

    def all(self) -> list[Monitor]:
        out = {**self.hardwired, **self.preconfigured, **self.custom}
        return sorted(out.values(), key=lambda m: m.id)

    def get(self, monitor_id: int) -> Monitor | None:
        return next((m for m in self.all() if m.id == monitor_id), None)

    def set_base(self, base: str) -> None:
        """All: the preconfigured monitors are back (custom ones stay); FactoryDefault: the
        custom monitors go and the preconfigured ones are back with their factory values;
        HardWiredOnly: only the hard-wired monitors stay."""
        if base not in BASES:
            raise ValueError(f"monitoring base {base!r}")
        self.base = base
        factory = {m.id: m for m in self.factory if m.origin == PRECONFIGURED}
        if base == "All":
            self.preconfigured = {**factory, **self.preconfigured}
        elif base == "FactoryDefault":
            self.custom.clear()
            self.preconfigured = factory
        else:
            self.custom.clear()
            self.preconfigured = {}
        kept = {m.id for m in self.all()}
        self._watch = {i: w for i, w in self._watch.items() if i in kept}

    def duplicate(self, candidate: Monitor) -> Monitor | None:
        """A monitor (other than the one `candidate` replaces) of the same variable, type
        and severity."""
        for m in self.all():
            same = (m.key, m.type, m.severity) == (
                candidate.key,
                candidate.type,
                candidate.severity,
            )
            if same and m.id != candidate.id:
                return m
        return None

    def put(self, monitor: Monitor, now: float, current: Reading | None = None) -> None:
        """Add or replace a monitor. `current` is the variable's value now: what a Delta
        monitor measures changes from (without one, from its first reading). A threshold
        monitor that replaces a tripped one stays tripped, so the next reading within the
        new threshold clears it (N07.FR.11)."""
        old = self.get(monitor.id)
        target = self.preconfigured if monitor.origin == PRECONFIGURED else self.custom
        self.custom.pop(monitor.id, None)
        if monitor.origin != PRECONFIGURED:  # a preconfigured one changed is custom (N04.FR.15)
            self.preconfigured.pop(monitor.id, None)
        target[monitor.id] = monitor
        was = self._watch.get(monitor.id)
        self._watch[monitor.id] = self._fresh(monitor, now)
        if monitor.type == DELTA:
            self._watch[monitor.id].reference = current
        if old is not None and was is not None and {old.type, monitor.type} <= set(THRESHOLDS):
            self._watch[monitor.id].tripped = was.tripped

    def tripped(self) -> set[int]:
        """The threshold monitors whose threshold is crossed now (kept across a restart:
        one that finds its value back within after the restart clears it, N07.FR.14)."""
        return {i for i, w in self._watch.items() if w.tripped}

    def restore_tripped(self, ids: Iterable[int]) -> None:
        for i in ids:
            m = self.get(i)
            if m is not None and m.type in THRESHOLDS:
                self._watch.setdefault(i, _Watch()).tripped = True

    def remove(self, monitor_id: int) -> bool:
        """Clear a custom or preconfigured monitor; hard-wired ones cannot be cleared."""
        found = self.custom.pop(monitor_id, None) or self.preconfigured.pop(monitor_id, None)
        self._watch.pop(monitor_id, None)
        return found is not None

    # --- what readings and time give --------------------------------------------------------

    def reading(
        self, key: str, value: Reading, now: float, in_transaction: bool = False
    ) -> list[MonitorEvent]:
        """A new value of the variable `key`: threshold and delta events."""
        events: list[MonitorEvent] = []
        for m in self.all():
            if m.key != key or m.type in PERIODICS:
                continue
            watch = self._watch.setdefault(m.id, _Watch())
            if m.transaction and not in_transaction:
                watch.tripped, watch.reference = False, None  # starts afresh with the next one
                continue
            event = self._threshold(m, watch, value, now) if m.type in THRESHOLDS else None
            if m.type == DELTA:
                event = self._delta(m, watch, value, now)
            if event is not None and m.severity <= self.level:
                events.append(event)
        return events

    def due(
        self,
        now: float,
        read: Callable[[str], Reading | None],
        in_transaction: Callable[[int | None], bool] = lambda evse: False,
    ) -> list[MonitorEvent]:
        """Periodic and clock-aligned monitors whose time has come; `read` gives a
        variable's value now (None: no value, nothing is sent)."""
        events: list[MonitorEvent] = []
        for m in self.all():
            if m.type not in PERIODICS:
                continue
            watch = self._watch.get(m.id)
            if watch is None or watch.next_due is None:
                watch = self._watch[m.id] = self._fresh(m, now)
            if now < watch.next_due:  # type: ignore[operator]
                continue
            watch.next_due = self._next_due(m, now)
            value = read(m.key)
            if value is None or m.severity > self.level:
                continue
            if m.transaction and not in_transaction(m.evse):
                continue
            events.append(MonitorEvent(m, value, "Periodic", now))
        return events

    def _fresh(self, m: Monitor, now: float) -> _Watch:
        return _Watch(next_due=self._next_due(m, now) if m.type in PERIODICS else None)

    @staticmethod
    def _next_due(m: Monitor, now: float) -> float:
        interval = max(m.value, 1.0)
        return next_aligned(now, interval) if m.type == CLOCK_ALIGNED else now + interval

    @staticmethod
    def _threshold(m: Monitor, watch: _Watch, value: Reading, now: float) -> MonitorEvent | None:
        number = _number(value)
        if number is None:
            return None
        beyond = number > m.value if m.type == UPPER else number < m.value
        if beyond == watch.tripped:
            return None
        watch.tripped = beyond
        return MonitorEvent(m, value, "Alerting", now, cleared=not beyond)

    @staticmethod
    def _delta(m: Monitor, watch: _Watch, value: Reading, now: float) -> MonitorEvent | None:
        if watch.reference is None:
            watch.reference = value  # the first reading is where changes count from
            return None
        new, old = _number(value), _number(watch.reference)
        if new is not None and old is not None and not isinstance(value, bool):
            changed = abs(new - old) > m.value  # changed by more than the delta (N07.FR.18)
        else:
            changed = value != watch.reference  # not a number: any change counts
        if not changed:
            return None
        watch.reference = value
        return MonitorEvent(m, value, "Delta", now)


def _number(value: Reading) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except ValueError:
        return None


def renumbered(monitors: Iterable[Monitor], first_id: int) -> list[Monitor]:
    """Monitors with ids from `first_id` on (factory monitors are built without ids)."""
    return [replace(m, id=first_id + n) for n, m in enumerate(monitors)]
