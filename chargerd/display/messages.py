"""Driver-facing messages: what each screen shows now, decided without I/O.

One board for both OCPP versions. It holds the CSMS's display messages (2.0.1
SetDisplayMessage) and the station's own notices (the tariff shown on authorization, the
running and the final cost, fallback texts, the default price), the state of each connector
and its transaction; `lines(connector, now)` says what a screen shows at `now`. Time is an
argument everywhere, so every rule is tested by feeding times.

The rules (OCPP 2.0.1 O01-O06, MessagePriorityEnumType):
- a message shows only within its window (startDateTime <= now < endDateTime), in its
  state (Charging / Faulted / Idle / Unavailable) when it names one, and where it belongs:
  its EVSE, the connector of its transaction, or every screen when it names neither;
- AlwaysFront: the newest one shows alone; nothing the station says goes over it;
- InFront: shown before everything else but AlwaysFront, cycling among themselves;
- NormalCycle: cycles with the station's own notices, every `cycle_s` seconds;
- messages bound to a transaction go when it ends; expired ones go at their end time.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from .kinds import FORMATS, Priority, State  # noqa: F401 - FORMATS: the board's formats

# Connector statuses (core/connector.py) as the display states of a message.
STATE_OF_STATUS: dict[str, State] = {
    "Charging": State.Charging,
    "SuspendedEV": State.Charging,
    "SuspendedEVSE": State.Charging,
    "Faulted": State.Faulted,
    "Unavailable": State.Unavailable,
}

CYCLE_S = 5.0  # a cycling message shows this long before the next one


@dataclass(frozen=True)
class DisplayMessage:
    """A message from the CSMS (2.0.1 MessageInfoType, flattened)."""

    id: int
    priority: Priority
    content: str
    format: str = "UTF8"
    language: str | None = None
    state: State | None = None
    start: float | None = None  # epoch seconds; None: at once
    end: float | None = None  # None: until cleared
    transaction_id: str | None = None
    evse: int | None = None  # None: every screen (or the transaction's connector)
    set_at: float = 0.0  # when it arrived: the newest AlwaysFront wins

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DisplayMessage:
        state = data.get("state")
        return cls(
            **{
                **data,
                "priority": Priority(data["priority"]),
                "state": State(state) if state else None,
            }
        )


@dataclass(frozen=True)
class Notice:
    """A text the station shows by itself: `kind` is tariff, cost, total or price."""

    kind: str
    text: str
    connector: int | None  # None: every screen
    until: float | None = None  # None: until replaced or its transaction ends
    transaction_id: str | None = None


@dataclass
class Board:
    """Every screen's content: the messages, the notices, the connectors' states."""

    connectors: tuple[int, ...]
    cycle_s: float = CYCLE_S
    messages: dict[int, DisplayMessage] = field(default_factory=dict)
    notices: dict[tuple[str, int | None], Notice] = field(default_factory=dict)
    states: dict[int, State] = field(default_factory=dict)
    transactions: dict[int, str] = field(default_factory=dict)  # connector -> transaction

    # --- what happens --------------------------------------------------------------------

    def put(self, message: DisplayMessage) -> None:
        """Add a message, or replace the one with its id."""
        self.messages[message.id] = message

    def remove(self, message_id: int) -> bool:
        return self.messages.pop(message_id, None) is not None

    def notice(self, notice: Notice) -> None:
        self.notices[(notice.kind, notice.connector)] = notice

    def drop_notice(self, kind: str, connector: int | None) -> None:
        self.notices.pop((kind, connector), None)

    def status_changed(self, connector: int, status: str) -> None:
        self.states[connector] = STATE_OF_STATUS.get(status, State.Idle)

    def transaction_started(self, connector: int, transaction_id: str) -> None:
        self.transactions[connector] = transaction_id
        self.drop_notice("total", connector)  # the last driver's bill is no longer news

    def transaction_ended(self, transaction_id: str) -> list[int]:
        """Forget the transaction; the ids of the messages bound to it, now removed."""
        for connector, tx in list(self.transactions.items()):
            if tx == transaction_id:
                del self.transactions[connector]
        for key, notice in list(self.notices.items()):
            if notice.transaction_id == transaction_id and notice.kind != "total":
                del self.notices[key]
        gone = [m.id for m in self.messages.values() if m.transaction_id == transaction_id]
        for message_id in gone:
            del self.messages[message_id]
        return gone

    def expire(self, now: float) -> list[int]:
        """Drop what ended by `now`; the ids of the messages removed."""
        gone = [m.id for m in self.messages.values() if m.end is not None and m.end <= now]
        for message_id in gone:
            del self.messages[message_id]
        for key, notice in list(self.notices.items()):
            if notice.until is not None and notice.until <= now:
                del self.notices[key]
        return gone

    # --- what shows ------------------------------------------------------------------------

    def shown(self, message: DisplayMessage, connector: int | None, now: float) -> bool:
        """Whether `message` belongs on the screen of `connector` (None: the station's)."""
        if message.start is not None and now < message.start:
            return False
        if message.end is not None and now >= message.end:
            return False
        if message.transaction_id is not None:
            if connector is None:
                return False
            if self.transactions.get(connector) != message.transaction_id:
                return False
        elif message.evse is not None and message.evse != connector:
            return False
        if message.state is not None:
            states = (
                set(self.states.values()) or {State.Idle}
                if connector is None
                else {self.states.get(connector, State.Idle)}
            )
            if message.state not in states:
                return False
        return True

    def current(self, connector: int | None, now: float) -> DisplayMessage | Notice | None:
        """What the screen of `connector` (None: the station's) shows at `now`."""
        mine = [m for m in self.messages.values() if self.shown(m, connector, now)]
        front = [m for m in mine if m.priority == Priority.AlwaysFront]
        if front:
            return max(front, key=lambda m: (m.set_at, m.id))
        in_front = sorted((m for m in mine if m.priority == Priority.InFront), key=_order)
        if in_front:
            return self._cycled(in_front, now)
        cycle: list[DisplayMessage | Notice] = list(self._notices(connector, now))
        cycle += sorted((m for m in mine if m.priority == Priority.NormalCycle), key=_order)
        return self._cycled(cycle, now) if cycle else None

    def lines(self, connector: int | None, now: float) -> list[str]:
        shown = self.current(connector, now)
        if shown is None:
            return []
        if isinstance(shown, Notice):
            return text_lines(shown.text)
        return text_lines(plain_text(shown.content, shown.format))

    def _notices(self, connector: int | None, now: float) -> list[Notice]:
        """The station's own notices for this screen, most pressing first (a cost before a
        tariff before the default price); one of this connector's before one for every
        screen of the same kind."""
        found = []
        for kind in ("total", "cost", "tariff", "price"):
            notice = self.notices.get((kind, connector)) if connector is not None else None
            notice = notice or self.notices.get((kind, None))
            if notice is None or (notice.until is not None and notice.until <= now):
                continue
            if notice.connector is None and connector in self.transactions:
                continue  # a price for every screen is for those who have not started yet
            found.append(notice)
        return found

    def _cycled(self, items: list[Any], now: float) -> Any:
        return items[int(now // self.cycle_s) % len(items)]


def _order(message: DisplayMessage) -> tuple[float, int]:
    return (message.set_at, message.id)


_TAG = re.compile(r"<[^>]*>")


def plain_text(content: str, format: str) -> str:
    """The text of a message's content as a text screen shows it."""
    if format == "HTML":
        return _TAG.sub("", content)
    return content


def text_lines(text: str) -> list[str]:
    """Lines of a text: its own line breaks, blank ends trimmed."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def money(amount: float, currency: str = "") -> str:
    """An amount as a screen shows it: two decimals, the currency after it."""
    return f"{amount:.2f} {currency}".rstrip()
