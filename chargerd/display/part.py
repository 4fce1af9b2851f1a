"""The display block on the daemon: the board (messages.py) fed with the core's decisions,
kept in SQLite, shown on the connectors' display devices, and reported in `chargerctl
status`.

Both OCPP versions write to it (ocpp201/display.py: display messages, tariffs and costs;
ocpp16/cost.py: the OCA cost extension): `put`/`clear` messages, `tariff` for an id token,
`running_cost`/`final_cost` for a transaction. The costs are kept for status as numbers:
`connectors[].transaction.cost` and `connectors[].last_transaction.total_cost`.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hal.interfaces import DeviceError, Display

from ..core.model import Decision, StatusChanged, TransactionEnded, TransactionStarted
from .messages import Board, DisplayMessage, Notice

if TYPE_CHECKING:
    from ..daemon import Daemon

log = logging.getLogger("chargerd.display")

SCHEMA = """
CREATE TABLE IF NOT EXISTS display_messages (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
"""
COSTS_KEY = "display.costs"  # store meta: running costs and the last totals (JSON)
TARIFF_WAIT_S = 120.0  # a tariff shown at authorization waits this long for the session
TOTAL_SHOWN_S = 300.0  # the final cost stays on the screen this long (or until the next)
RECENT = 16  # ended transactions remembered for a late final cost
# The module of each OCPP version that says the station's own texts (`driver_texts`).
TEXTS_OF_VERSION = {"1.6": "chargerd.ocpp16.cost", "2.0.1": "chargerd.ocpp201.display"}
REFRESH_S = 1.0  # the screens are looked at least this often (windows, cycling)
RESHOW_S = 60.0  # unchanged lines are sent again this often (a screen that restarted)


@dataclass(frozen=True)
class DriverTexts:
    """What the station shows when the CSMS said nothing (empty: nothing)."""

    tariff_fallback: str = ""  # a session starts without a tariff of its own
    total_fallback: str = ""  # a session ended; its final cost is not known (yet)
    default_price: str = ""  # on every free screen


@dataclass
class Ended:
    """A transaction that ended: where, and under which id the CSMS knows it."""

    connector: int
    label: str  # 1.6: the CSMS's transactionId (or "pending"); 2.0.1: the station's id
    total_cost: float | None = None


class DisplayPart:
    name = "display"

    def __init__(self, daemon: Daemon, station_display: Display | None = None) -> None:
        self.daemon = daemon
        self.station_display = station_display  # the station's own screen, if it has one
        self.db = daemon.store.db
        self.board = Board(tuple(c.id for c in daemon.config.connectors))
        self.costs: dict[str, float] = {}  # running cost per transaction
        self.ended: dict[str, Ended] = {}  # tx id -> the recently ended transactions
        self.last: dict[int, str] = {}  # connector -> its last ended transaction
        self.tariffs: dict[str, str] = {}  # casefolded id token -> tariff text, not yet used
        self._changed = asyncio.Event()
        self._shown: dict[int | None, tuple[list[str], float]] = {}  # lines, when sent
        self._failing: set[int | None] = set()
        with self.db:
            self.db.executescript(SCHEMA)
        for (body,) in self.db.execute("SELECT body FROM display_messages ORDER BY id"):
            self.board.put(DisplayMessage.from_json(json.loads(body)))
        self._load_costs()

    # --- messages (2.0.1 SetDisplayMessage and friends) --------------------------------------

    def put(self, message: DisplayMessage) -> None:
        with self.db:  # durable: a message the CSMS was told Accepted survives a power cut
            self.db.execute(
                "INSERT OR REPLACE INTO display_messages (id, body) VALUES (?, ?)",
                (message.id, json.dumps(message.to_json())),
            )
        self.board.put(message)
        self.changed()

    def clear(self, message_id: int) -> bool:
        if not self.board.remove(message_id):
            return False
        self._delete([message_id])
        self.changed()
        return True

    def messages(self) -> list[DisplayMessage]:
        """The messages set now (those that ended are removed first)."""
        self._expire(time.time())
        return sorted(self.board.messages.values(), key=lambda m: m.id)

    def _delete(self, ids: list[int]) -> None:
        with self.db:
            self.db.executemany("DELETE FROM display_messages WHERE id=?", [(i,) for i in ids])

    # --- tariffs and costs ------------------------------------------------------------------

    def connector_of(self, transaction_id: str) -> int | None:
        """The connector of a running or recently ended transaction."""
        for connector, tx in self.board.transactions.items():
            if tx == transaction_id:
                return connector
        ended = self.ended.get(transaction_id)
        return ended.connector if ended else None

    def running(self, transaction_id: str) -> bool:
        return transaction_id in self.board.transactions.values()

    def find_ended(self, label: str) -> str | None:
        """The station's id of a recently ended transaction the CSMS calls `label`."""
        for tx_id, ended in self.ended.items():
            if ended.label == "pending":  # the id came after the end: ask again
                ended.label = str(self.daemon.adapter.transaction_facts(tx_id).get("id"))
            if ended.label == label:
                return tx_id
        return None

    def texts(self) -> DriverTexts:
        """The version's texts for when the CSMS says nothing (its configuration)."""
        module = TEXTS_OF_VERSION.get(self.daemon.config.csms.ocpp_version)
        if module is None:
            return DriverTexts()
        online = self.daemon.link.state == "connected"
        texts: DriverTexts = importlib.import_module(module).driver_texts(
            self.daemon.adapter, online
        )
        return texts

    def tariff(
        self, id_token: str, text: str, now: float, transaction_id: str | None = None
    ) -> None:
        """The driver's tariff (shown at authorization): on every free screen until the
        session starts, then on its connector for the whole session."""
        if not text:
            return
        if transaction_id is not None and (connector := self.connector_of(transaction_id)):
            self.board.notice(Notice("tariff", text, connector, transaction_id=transaction_id))
            self.changed()
            return
        for connector, tx in self.board.transactions.items():
            if self._tx_tag(tx) == id_token.casefold():
                self.board.notice(Notice("tariff", text, connector, transaction_id=tx))
                self.changed()
                return
        self.tariffs[id_token.casefold()] = text
        self.board.notice(Notice("tariff", text, None, until=now + TARIFF_WAIT_S))
        self.changed()

    def running_cost(self, transaction_id: str, cost: float | None, text: str) -> bool:
        """A running cost (number, text) of a transaction; False: no such transaction."""
        connector = self.connector_of(transaction_id)
        if connector is None or not self.running(transaction_id):
            return False
        if cost is not None:
            self.costs[transaction_id] = cost
            self._save_costs()
        if text:
            self.board.notice(Notice("cost", text, connector, transaction_id=transaction_id))
        self.changed()
        return True

    def final_cost(self, transaction_id: str, total: float | None, text: str, now: float) -> bool:
        """The final cost of a transaction, also after it ended; False: not known here."""
        connector = self.connector_of(transaction_id)
        if connector is None:
            return False
        ended = self.ended.setdefault(transaction_id, Ended(connector, transaction_id))
        if total is not None:
            ended.total_cost = total
            self.last[connector] = transaction_id
            self._save_costs()
        if text:
            until = now + TOTAL_SHOWN_S
            self.board.notice(Notice("total", text, connector, until, transaction_id))
        self.changed()
        return True

    # --- the Part ------------------------------------------------------------------------------

    def see(self, decision: Decision) -> None:
        if isinstance(decision, StatusChanged):
            self.board.status_changed(decision.connector, decision.new)
        elif isinstance(decision, TransactionStarted):
            self._started(decision)
        elif isinstance(decision, TransactionEnded):
            self._ended(decision)
        else:
            return
        self.changed()

    def _started(self, d: TransactionStarted) -> None:
        tx = d.transaction
        self.board.transaction_started(tx.connector, tx.id)
        tariff = self.tariffs.pop(tx.id_tag.casefold(), None)
        if tariff is None:
            tariff = self.texts().tariff_fallback
        else:
            self.board.drop_notice("tariff", None)
        if tariff:
            self.board.notice(Notice("tariff", tariff, tx.connector, transaction_id=tx.id))

    def _ended(self, d: TransactionEnded) -> None:
        tx = d.transaction
        label = str(self.daemon.adapter.transaction_facts(tx.id).get("id"))
        self.ended[tx.id] = Ended(tx.connector, label)
        while len(self.ended) > RECENT:
            del self.ended[next(iter(self.ended))]
        self.last[tx.connector] = tx.id
        self.costs.pop(tx.id, None)
        self._save_costs()
        gone = self.board.transaction_ended(tx.id)
        if gone:
            self._delete(gone)
        total_fallback = self.texts().total_fallback
        if total_fallback:  # until the CSMS's final cost replaces it
            until = d.at + TOTAL_SHOWN_S
            self.board.notice(Notice("total", total_fallback, tx.connector, until, tx.id))

    def _tx_tag(self, transaction_id: str) -> str | None:
        for c in self.daemon.station.connectors.values():
            if c.transaction is not None and c.transaction.id == transaction_id:
                return c.transaction.id_tag.casefold()
        return None

    def changed(self) -> None:
        self._changed.set()

    async def run(self) -> None:
        for c in self.daemon.station.connectors.values():  # as restored at start-up
            self.board.status_changed(c.id, str(c.status))
        displays: dict[int | None, Display] = {
            hw.connector: hw.display for hw in self.daemon.hardware.values() if hw.display
        }
        if self.station_display is not None:
            displays[None] = self.station_display
        for connector, display in displays.items():
            try:
                await display.start(self.daemon.emit)
            except (DeviceError, OSError) as exc:
                log.warning("%s: display did not start: %s", _where(connector), exc)
        try:
            while True:
                self._changed.clear()
                now = time.time()
                self._tick(now)
                for connector, display in displays.items():
                    await self._show(connector, display, self.board.lines(connector, now))
                cycle = self.board.cycle_s
                wait = min(REFRESH_S, cycle - now % cycle + 0.01)
                try:
                    async with asyncio.timeout(wait):
                        await self._changed.wait()
                except TimeoutError:
                    pass
        finally:
            for display in displays.values():
                try:
                    await display.clear()  # the screen back to the firmware
                    await display.stop()
                except (DeviceError, OSError):
                    pass

    def _expire(self, now: float) -> None:
        gone = self.board.expire(now)
        if gone:
            self._delete(gone)

    def _tick(self, now: float) -> None:
        self._expire(now)
        price = self.texts().default_price
        if price:
            self.board.notice(Notice("price", price, None))
        else:
            self.board.drop_notice("price", None)

    async def _show(self, connector: int | None, display: Display, lines: list[str]) -> None:
        shown = self._shown.get(connector)
        now = time.monotonic()
        if shown is not None and shown[0] == lines and now - shown[1] < RESHOW_S:
            return
        try:
            if lines:
                await display.show(lines)
            else:
                await display.clear()
        except DeviceError as exc:
            if connector not in self._failing:
                log.warning("%s: display: %s", _where(connector), exc)
                self._failing.add(connector)
            return
        self._failing.discard(connector)
        self._shown[connector] = (lines, now)

    def status(self, into: dict[str, Any]) -> None:
        now = time.time()
        into["display"] = {"lines": self.board.lines(None, now)}
        for entry in into.get("connectors", []):
            connector = entry["id"]
            entry["display"] = {"lines": self.board.lines(connector, now)}
            tx = entry.get("transaction")
            if tx is not None:
                tx["cost"] = self.costs.get(tx.get("station_id", ""))
            last = self.last.get(connector)
            ended = self.ended.get(last) if last else None
            entry["last_transaction"] = (
                {"id": ended.label, "station_id": last, "total_cost": ended.total_cost}
                if ended is not None
                else None
            )

    # --- persistence of the costs -------------------------------------------------------------

    def _save_costs(self) -> None:
        ended = {tx: [e.connector, e.label, e.total_cost] for tx, e in self.ended.items()}
        body = {"costs": self.costs, "ended": ended, "last": self.last}
        self.daemon.store.set_meta(COSTS_KEY, json.dumps(body))

    def _load_costs(self) -> None:
        raw = self.daemon.store.get_meta(COSTS_KEY)
        if not raw:
            return
        body = json.loads(raw)
        self.costs = {k: float(v) for k, v in body.get("costs", {}).items()}
        self.ended = {tx: Ended(*values) for tx, values in body.get("ended", {}).items()}
        self.last = {int(k): v for k, v in body.get("last", {}).items()}


def _where(connector: int | None) -> str:
    return "station" if connector is None else f"connector {connector}"
