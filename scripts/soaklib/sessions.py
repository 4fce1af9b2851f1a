"""The session workers: one per connector, charging all the time.

A session plugs in, presents a tag that no other session uses, charges for a random short
time (sometimes pausing the EV), then presents the tag again or unplugs. What the worker
saw through `chargerctl status` (the transaction appearing, the meter before the tag and
after the stop) is kept in its `Session`, for the checks. The steps are the same for both
OCPP versions: the simulated hardware and the status are.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .daemon import Daemon, DaemonGone, SoakError

TICK_S = 1.0  # the daemon polls meters once a second (chargerd.daemon.TICK_S)
SESSION_START_S = 6.0  # how long a tag may take to start a transaction
SESSION_STOP_S = 6.0


@dataclass
class Session:
    tag: str
    connector: int
    generation: int  # the daemon run it began in
    energy_before: int | None = None  # status energy_wh after plugging, before the tag
    seen_started: bool = False
    stop_kind: str | None = None  # "tag" or "unplug", once requested
    stop_seen: bool = False  # the transaction left `chargerctl status` in the same run
    meter_stop: int | None = None  # status energy_wh after the stop, same run
    killed: bool = False  # the daemon was killed while the session ran
    note: str = ""


class Sessions:
    """The sessions of one soak, begun by a worker per connector."""

    def __init__(self, daemon: Daemon, rng: random.Random, problems: list[str]) -> None:
        self.daemon = daemon
        self.rng = rng
        self.problems = problems
        self.all: list[Session] = []
        self.tag_counter = 0

    def new_tag(self, connector: int) -> str:
        self.tag_counter += 1
        return f"SOAK{connector}-{self.tag_counter:06d}"

    async def worker(self, n: int, end: float) -> None:
        daemon = self.daemon
        while time.monotonic() < end:
            await daemon.up.wait()
            generation = daemon.generation
            session = Session(self.new_tag(n), n, generation)
            self.all.append(session)
            try:
                await self.one_session(session)
            except DaemonGone:
                # killed before the soak read the meter after the stop: the stop may or
                # may not have been stored before the kill
                if session.seen_started and session.meter_stop is None:
                    session.killed = True
            except SoakError as exc:
                self.problems.append(f"{session.tag}: {exc}")
                return
            await asyncio.sleep(self.rng.uniform(0.05, 0.8))

    async def one_session(self, s: Session) -> None:
        daemon = self.daemon
        gen, n = s.generation, s.connector
        await daemon.ctl(gen, "sim", "plug", str(n))
        await asyncio.sleep(self.rng.uniform(0.0, 0.3))
        s.energy_before = (await daemon.connector(gen, n))["energy_wh"]
        await daemon.ctl(gen, "sim", "tag", s.tag, "--connector", str(n))
        if not await self.wait_connector(gen, n, lambda c: tx_tag(c) == s.tag, SESSION_START_S):
            s.note = "did not start"
            await daemon.ctl(gen, "sim", "unplug", str(n))
            await self.wait_connector(gen, n, no_transaction, SESSION_STOP_S)
            return
        s.seen_started = True
        charge_until = time.monotonic() + self.rng.uniform(0.3, 5.0)
        if self.rng.random() < 0.2:  # the EV pauses for a moment
            await asyncio.sleep(self.rng.uniform(0.2, 1.5))
            await daemon.ctl(gen, "sim", "ev-pause", str(n))
            await asyncio.sleep(self.rng.uniform(0.2, 1.5))
            await daemon.ctl(gen, "sim", "ev-resume", str(n))
        while time.monotonic() < charge_until:
            await asyncio.sleep(min(0.5, max(0.0, charge_until - time.monotonic())))
            await daemon.status(gen)  # notices a kill early
        s.stop_kind = "tag" if self.rng.random() < 0.6 else "unplug"
        if s.stop_kind == "tag":
            await daemon.ctl(gen, "sim", "tag", s.tag, "--connector", str(n))
        else:
            await daemon.ctl(gen, "sim", "unplug", str(n))
        if not await self.wait_connector(gen, n, no_transaction, SESSION_STOP_S):
            raise SoakError(
                f"the transaction on connector {n} did not end within {SESSION_STOP_S} s "
                f"of the {s.stop_kind}"
            )
        s.stop_seen = True
        # The daemon reads the meter again once the power is off; one more poll later the
        # status shows the register as it stands (nothing flows any more).
        await asyncio.sleep(TICK_S + 0.3)
        s.meter_stop = (await daemon.connector(gen, n))["energy_wh"]
        if s.stop_kind == "tag":
            await asyncio.sleep(self.rng.uniform(0.0, 0.5))
            await daemon.ctl(gen, "sim", "unplug", str(n))

    async def wait_connector(
        self, gen: int, n: int, predicate: Callable[[dict[str, Any]], bool], timeout: float
    ) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if predicate(await self.daemon.connector(gen, n)):
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.1)


def tx_tag(connector: dict[str, Any]) -> str | None:
    tx = connector.get("transaction")
    return tx["id_tag"] if tx else None


def no_transaction(connector: dict[str, Any]) -> bool:
    return connector.get("transaction") is None
