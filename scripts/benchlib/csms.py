"""The bench's side of the CSMS: the dev CSMS with a hook that times what arrives, and
readers of its ledger (how far a backlog has drained, where a request loop's time goes)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from devcsms import Csms

from .procs import BenchError

if TYPE_CHECKING:
    from .station import Station

TX_ACTIONS = ("StartTransaction", "StopTransaction", "MeterValues")


class Watch:
    """`Csms.on_message` hook: futures resolved (with perf_counter) by matching messages."""

    def __init__(self) -> None:
        self.waiters: list[tuple[Callable[..., bool], asyncio.Future[float]]] = []
        self.counts: Counter[tuple[str, str]] = Counter()

    def __call__(self, station: str, direction: str, action: str, payload: Any) -> None:
        now = time.perf_counter()
        if direction == "in":
            self.counts[(station, action)] += 1
        if not isinstance(payload, dict):
            return
        for waiter in list(self.waiters):
            predicate, future = waiter
            if future.done():
                self.waiters.remove(waiter)
            elif predicate(station, direction, action, payload):
                future.set_result(now)
                self.waiters.remove(waiter)

    def expect(self, predicate: Callable[..., bool]) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters.append((predicate, future))
        return future

    def status(self, station: str, connector: int, status: str) -> asyncio.Future[float]:
        return self.expect(
            lambda s, d, a, p: (
                s == station
                and d == "in"
                and a == "StatusNotification"
                and p.get("connectorId") == connector
                and p.get("status") == status
            )
        )

    def call(self, station: str, action: str) -> asyncio.Future[float]:
        return self.expect(lambda s, d, a, p: s == station and d == "in" and a == action)


def answering_after(session: type, delay_s: float) -> type:
    """The dev CSMS's session class, answering each CALL `delay_s` after it arrived, as a
    CSMS across a real network appears to a station (OCPP-J: one CALL outstanding, so the
    round trip is paid per CALL). The ledger still records the CALL on arrival."""

    class AnswersLate(session):  # type: ignore[misc, valid-type]
        async def _handle_call(self, msg: Any) -> Any:
            await asyncio.sleep(delay_s)
            return await super()._handle_call(msg)

    return AnswersLate


def make_csms(watch: Watch, port: int = 0, rtt_ms: float = 0) -> Csms:
    csms = Csms(port=port, close_timeout=0.5, on_message=watch)
    if rtt_ms > 0:
        csms.protocols = {name: answering_after(session, rtt_ms / 1000)
                          for name, session in csms.protocols.items()}  # fmt: skip
    return csms


class Drain:
    """How far the CSMS has got through a station's backlog, read from its ledger as it
    grows (each update reads only the new entries). A queued message is one outbox row;
    an answered MeterValues CALL confirms as many rows as it carries meterValue entries
    (the daemon writes one per row, and combining joins rows into one CALL), a Start- or
    StopTransaction one. `frames` keeps the CALLs as sent, for the bare loop to repeat."""

    def __init__(self, station_id: str, start: int = 0) -> None:
        self.station_id = station_id
        self.next = start
        self.rows = 0
        self.calls = 0
        self.by_action: Counter[str] = Counter()
        self.connect: float | None = None
        self.last_answer: float | None = None
        self.frames: list[list[Any]] = []  # [action, payload, transaction id answered]
        self._waiting: dict[Any, tuple[int, int]] = {}  # unique id → (rows, frame index)

    def update(self, entries: list[Any]) -> None:
        for e in entries[self.next :]:
            if e.station_id != self.station_id:
                continue
            if e.kind == "connect" and self.connect is None:
                self.connect = e.time
            elif e.direction == "in" and e.kind == "call" and e.action in TX_ACTIONS:
                entries_ = e.payload.get("meterValue", []) if isinstance(e.payload, dict) else []
                rows = len(entries_) if e.action == "MeterValues" else 1
                self._waiting[e.unique_id] = (rows, len(self.frames))
                self.frames.append([e.action, e.payload, None])
            elif e.direction == "out" and e.kind == "result" and e.unique_id in self._waiting:
                rows, frame = self._waiting.pop(e.unique_id)
                self.rows += rows
                self.calls += 1
                self.by_action[e.action] += 1
                self.last_answer = e.time
                if e.action == "StartTransaction" and isinstance(e.payload, dict):
                    self.frames[frame][2] = e.payload.get("transactionId")
        self.next = len(entries)

    @property
    def seconds(self) -> float:
        """(Re)connect → the answer to the last transaction message."""
        if self.connect is None or self.last_answer is None:
            raise BenchError(f"{self.station_id}: no connection or no answer in the ledger")
        return self.last_answer - self.connect


def split_turns(entries: list[Any], station_id: str) -> dict[str, float]:
    """Where the time of a request/response loop goes, from the CSMS's ledger: CSMS
    (CALL received → answer sent) and station (answer sent → next CALL received, which
    includes both network hops). Medians and means in ms."""
    csms, station = [], []
    last_answer = None
    pending: dict[Any, float] = {}
    for e in entries:
        if e.station_id != station_id:
            continue
        if e.direction == "in" and e.kind == "call":
            pending[e.unique_id] = e.time
            if last_answer is not None:
                station.append(e.time - last_answer)
        elif e.direction == "out" and e.kind in ("result", "error") and e.unique_id in pending:
            csms.append(e.time - pending.pop(e.unique_id))
            last_answer = e.time
    if not csms or not station:
        return {}
    return {
        "csms_median_ms": round(1000 * statistics.median(csms), 3),
        "csms_mean_ms": round(1000 * statistics.fmean(csms), 3),
        "station_median_ms": round(1000 * statistics.median(station), 3),
        "station_mean_ms": round(1000 * statistics.fmean(station), 3),
    }


async def await_drain(
    csms: Csms, station: Station, drain: Drain, backlog: int, timeout: float
) -> bool:
    """Until `csms` has confirmed `backlog` queued messages (or the station's outbox is
    empty: thinned messages are never sent); False after `timeout` s."""
    deadline = time.monotonic() + timeout
    next_status = time.monotonic() + 1
    while True:
        drain.update(csms.ledger.entries)
        if drain.rows >= backlog:
            return True
        if station.proc is not None and station.proc.poll() is not None:
            raise BenchError(f"chargerd exited with {station.proc.returncode} during the "
                             f"drain\n{station.tail()}")  # fmt: skip
        if time.monotonic() > next_status and station.ctl.writer is not None:
            next_status = time.monotonic() + 1
            if (await station.ctl.status())["outbox_depth"] == 0:
                drain.update(csms.ledger.entries)
                return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
