"""What a development CSMS saw, in order, and the queries tests make of it.

The version modules (v16.py, v201.py) extend `Ledger` with their transaction records and
what else their version is about; the checks that fill `violations` live with their
handlers there and in session.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from .frames import dumps


@dataclass
class LedgerEntry:
    """One thing the CSMS saw, in order.

    kind: "call" / "result" / "error" (CALLERROR) / "raw" (sent with send_raw) /
    "malformed" (a received frame that is no OCPP-J message) for messages;
    "connect" / "disconnect" / "rejected" (handshake refused) for connection events,
    with direction "-" and action "".
    For "result" and "error" entries `action` is the action of the CALL they answer
    (None-safe: "" when unknown); an "error" payload is
    {"errorCode": ..., "errorDescription": ..., "errorDetails": ...}.
    `note` says what was special, e.g. "fail_next: silent", "dropped (fail_next)".
    """

    index: int
    time: float  # time.time()
    station_id: str
    direction: str  # "in" (station → CSMS), "out" (CSMS → station), "-" for events
    action: str
    payload: Any
    kind: str = "call"
    unique_id: str | None = None
    note: str | None = None

    @property
    def label(self) -> str:
        """Direction and what it is, e.g. "→ Heartbeat", "← Heartbeat.conf"."""
        arrow = {"in": "→", "out": "←"}.get(self.direction, "·")
        if self.kind == "call":
            return f"{arrow} {self.action}"
        if self.kind == "result":
            return f"{arrow} {self.action or '?'}.conf"
        if self.kind == "error":
            return f"{arrow} {self.action or '?'} CALLERROR"
        if self.kind in ("raw", "malformed"):
            return f"{arrow} {self.kind.upper()}"
        return f"{arrow} [{self.kind}]"

    def __str__(self) -> str:
        stamp = datetime.fromtimestamp(self.time).strftime("%H:%M:%S.%f")[:-3]
        text = dumps(self.payload)
        if len(text) > 160:
            text = text[:157] + "..."
        note = f"  [{self.note}]" if self.note else ""
        return f"#{self.index} {stamp} {self.station_id} {self.label} {text}{note}"


class Transaction(Protocol):
    """What every version's transaction record tells the shared ledger."""

    @property
    def station_id(self) -> str: ...

    @property
    def ended(self) -> bool: ...


TxT = TypeVar("TxT", bound=Transaction)


@dataclass
class Ledger(Generic[TxT]):
    """Entries, violations and registration, kept the same way for both versions."""

    entries: list[LedgerEntry] = field(default_factory=list)
    transactions: dict[Any, TxT] = field(default_factory=dict)
    # (station, connector) in 1.6, (station, evse) in 2.0.1 -> (status, errorCode)
    status: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)
    boot_count: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    boot_info: dict[str, dict] = field(default_factory=dict)  # last BootNotification.req
    registration: dict[str, str] = field(default_factory=dict)  # last boot status answered
    data_transfers: list[tuple[str, dict]] = field(default_factory=list)
    firmware_status: dict[str, str] = field(default_factory=dict)
    # MeterValues.req outside transactions: (station_id, connector or evse id, meterValue list)
    meter_values_without_tx: list[tuple[str, int, list]] = field(default_factory=list)

    def received(self, action: str | None = None, station_id: str | None = None) -> list:
        """Payloads of the CALLs received (optionally of one action / station), in order."""
        return [e.payload for e in self._calls("in", action, station_id)]

    def sent(self, action: str | None = None, station_id: str | None = None) -> list:
        """Payloads of the CALLs the CSMS sent (via call()), in order."""
        return [e.payload for e in self._calls("out", action, station_id)]

    def actions(self, station_id: str | None = None, direction: str = "in") -> list[str]:
        """Action names of the CALLs received (or sent), in order: handy for ordering checks."""
        return [e.action for e in self._calls(direction, None, station_id)]

    def active_transactions(self, station_id: str | None = None) -> list[TxT]:
        """Transactions not ended yet (of one station, or all)."""
        return [
            tx
            for tx in self.transactions.values()
            if not tx.ended and (station_id is None or tx.station_id == station_id)
        ]

    def _calls(self, direction: str, action: str | None, station_id: str | None):
        return [
            e
            for e in self.entries
            if e.kind == "call"
            and e.direction == direction
            and (action is None or e.action == action)
            and (station_id is None or e.station_id == station_id)
        ]


class Recorder(Protocol):
    """What writes the ledger (the CSMS server): entries and violations."""

    def record(
        self,
        station_id: str,
        direction: str,
        kind: str,
        action: str,
        payload: Any,
        unique_id: Any = None,
        note: str | None = None,
    ) -> LedgerEntry: ...

    def violation(self, station_id: str, text: str) -> None: ...
