"""The ledger side of a development CSMS: what it saw goes into the ledger and the log, and
tests wait on it.

`Recording` is the base of `CsmsServer` (server.py, the websocket side): sessions write
through `record` and `violation` (the `Recorder` protocol of ledger.py), `on_message`
hears every message, and `wait_for` / `until` wake up on each change. Everything runs on
one asyncio loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from .frames import dumps
from .ledger import Ledger, LedgerEntry

log = logging.getLogger("chargerd.csms")  # the name soak and bench configure

MESSAGE_KINDS = ("call", "result", "error", "raw", "malformed")  # other kinds are events

T = TypeVar("T")


class Recording:
    ledger: Ledger[Any]

    def __init__(self, on_message: Callable[[str, str, str, Any], None] | None) -> None:
        self.on_message = on_message
        self.ledger = self.new_ledger()
        self._changed = asyncio.Event()  # replaced by a new one at every change

    def new_ledger(self) -> Ledger[Any]:
        """An empty ledger of the version."""
        raise NotImplementedError

    @property
    def connected(self) -> set[str]:
        """The station ids connected now (for the timeout messages)."""
        raise NotImplementedError

    # ---- recording

    def record(
        self,
        station_id: str,
        direction: str,
        kind: str,
        action: str,
        payload: Any,
        unique_id: Any = None,
        note: str | None = None,
    ) -> LedgerEntry:
        """Append a ledger entry, log it, tell on_message (messages only) and waiters."""
        entry = LedgerEntry(
            index=len(self.ledger.entries),
            time=time.time(),
            station_id=station_id,
            direction=direction,
            action=action or "",
            payload=payload,
            kind=kind,
            unique_id=unique_id,
            note=note,
        )
        self.ledger.entries.append(entry)
        if kind in MESSAGE_KINDS:
            suffix = f"  [{note}]" if note else ""
            log.info("%s %s %s%s", station_id, entry.label, dumps(payload), suffix)
            if self.on_message is not None:
                try:
                    self.on_message(station_id, direction, entry.action, payload)
                except Exception:
                    log.exception("on_message callback failed")
        else:
            log.info("%s %s %s", station_id, kind, dumps(payload))
        self._pulse()
        return entry

    def violation(self, station_id: str, text: str) -> None:
        """A protocol problem of the station: into ledger.violations and the log."""
        message = f"{station_id}: {text}"
        self.ledger.violations.append(message)
        log.warning("VIOLATION %s", message)
        self._pulse()

    def _pulse(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    # ---- waiting

    async def until(
        self, check: Callable[[], T | None], what: str, timeout: float, *, after: int = 0
    ) -> T:
        """The first result of `check()` that is not None, asked again after every change.
        TimeoutError says `what` was awaited and lists the ledger entries from `after`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._changed
            result = check()
            if result is not None:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(self._timeout_message(what, timeout, after))
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                pass

    async def wait_for(
        self,
        predicate: Callable[[LedgerEntry], bool] | str,
        timeout: float = 10,
        *,
        after: int = 0,
    ) -> LedgerEntry:
        """The first ledger entry with index ≥ `after` that matches; a str matches a
        received CALL of that action. TimeoutError lists the recent entries."""
        matches: Callable[[LedgerEntry], bool]
        if isinstance(predicate, str):
            action = predicate

            def matches(e: LedgerEntry) -> bool:
                return e.direction == "in" and e.kind == "call" and e.action == action

            what = f"received {action} CALL"
        else:
            matches = predicate
            what = f"an entry matching {getattr(predicate, '__name__', repr(predicate))}"
        pos = after

        def next_match() -> LedgerEntry | None:
            nonlocal pos
            entries = self.ledger.entries
            while pos < len(entries):
                entry = entries[pos]
                pos += 1
                if matches(entry):
                    return entry
            return None

        return await self.until(next_match, what, timeout, after=after)

    async def wait_connected(self, station_id: str, timeout: float = 10) -> None:
        await self.until(
            lambda: True if station_id in self.connected else None,
            f"station {station_id!r} to connect",
            timeout,
        )

    def _timeout_message(self, what: str, timeout: float, after: int) -> str:
        entries = self.ledger.entries
        recent = entries[max(after, len(entries) - 12) :]
        lines = [
            f"no {what} within {timeout} s (ledger entries from #{after}; "
            f"{len(entries)} in total; connected: {sorted(self.connected) or 'none'})"
        ]
        if recent:
            lines.append("recent entries:")
            lines.extend(f"  {e}" for e in recent)
        else:
            lines.append("no entries since then")
        if self.ledger.violations:
            lines.append(f"violations: {self.ledger.violations[-5:]}")
        return "\n".join(lines)
