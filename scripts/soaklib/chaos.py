"""The chaos: while the sessions run, at random,

- kill the daemon with SIGKILL and start it again on the same state dir (sometimes while
  the CSMS is away, so the offline queue is what survives the kill); with a power-cut disk
  every kill is a power cut: unsynced data is dropped too (sometimes after a random half of
  the dirty blocks was written, as a disk's write-back may have done);
- take the CSMS away for a few seconds and bring it back (with a power-cut disk, most
  outages end in a cut mid-replay, once the CSMS has received a message or two of the queue);
- drop the connection (with a close frame or abruptly);
- make the CSMS answer the next transaction message with a CALLERROR, not at all, or
  process it and lose the answer (fail_next).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from devcsms import CsmsServer

from . import STATION_ID
from .daemon import Daemon

FAIL_MODES = ("error", "silent", "drop_answer")
CUT_KEEP = (0.0, 0.0, 0.5)  # share of the dirty blocks a cut writes first (random which)


@dataclass
class Counters:
    kills: int = 0
    outages: int = 0
    disconnects: int = 0
    kills_offline: int = 0
    cuts_in_replay: int = 0
    blocks_kept: int = 0
    bytes_dropped: int = 0
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Chaos:
    """What goes wrong during one soak; `fail_actions` are the CSMS's CALLs it fails,
    `tx_actions` the transaction messages a cut mid-replay waits for."""

    def __init__(
        self,
        daemon: Daemon,
        csms: CsmsServer,
        rng: random.Random,
        disk: Any,
        fail_actions: tuple[str, ...],
        tx_actions: tuple[str, ...],
    ) -> None:
        self.daemon = daemon
        self.csms = csms
        self.rng = rng
        self.disk = disk  # the PowerCutMount holding the state dir, or None
        self.fail_actions = fail_actions
        self.tx_actions = tx_actions
        self.counters = Counters()

    def plan(self, end: float) -> list[tuple[float, str]]:
        """When to do what: random, with at least one kill and one outage."""
        now = time.monotonic()
        events: list[tuple[float, str]] = []
        t = now + self.rng.uniform(1.5, 3.0)
        while t < end - 2.0:
            kind = self.rng.choices(["kill", "outage", "disconnect", "fail"], weights=[2, 2, 2, 4])[
                0
            ]
            events.append((t, kind))
            t += self.rng.uniform(1.0, 4.0)
        kinds = {kind for _, kind in events}
        span = max(end - now, 4.0)
        if "kill" not in kinds:
            events.append((now + span * 0.3, "kill"))
        if "outage" not in kinds:
            events.append((now + span * 0.55, "outage"))
        return sorted(events)

    async def run(self, end: float) -> None:
        for at, kind in self.plan(end):
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            if kind == "kill":
                await self.kill_and_restart(pause=self.rng.uniform(0.0, 2.0))
            elif kind == "outage":
                await self.outage()
            elif kind == "disconnect":
                if STATION_ID in self.csms.connected:
                    self.counters.disconnects += 1
                    await self.csms.disconnect(STATION_ID, abrupt=self.rng.random() < 0.5)
            else:
                action = self.rng.choice(self.fail_actions)
                mode = self.rng.choice(FAIL_MODES)
                count = self.rng.choice([1, 1, 2])
                self.csms.fail_next(action, count, mode)
                self.counters.failures[f"{action} {mode}"] += count
        await asyncio.sleep(max(0.0, end - time.monotonic()))

    async def kill_and_restart(self, pause: float) -> None:
        daemon = self.daemon
        if not daemon.up.is_set():
            return
        await daemon.kill()
        self.counters.kills += 1
        if not self.csms.running:
            self.counters.kills_offline += 1
        if self.disk is not None:  # the power goes with the daemon: unsynced data is lost
            keep = self.rng.choice(CUT_KEEP)
            dropped, kept = await asyncio.to_thread(
                self.disk.cut, keep, self.rng.randrange(1 << 30)
            )
            self.counters.blocks_kept += kept
            self.counters.bytes_dropped += dropped
        await asyncio.sleep(pause)
        await daemon.start()

    async def outage(self) -> None:
        self.counters.outages += 1
        await self.csms.stop(abrupt=self.rng.random() < 0.3)
        down = self.rng.uniform(1.0, 5.0)
        if self.rng.random() < 0.3:  # a kill while offline: the queue must survive it
            await asyncio.sleep(down / 2)
            await self.kill_and_restart(pause=self.rng.uniform(0.0, 1.0))
            await asyncio.sleep(down / 2)
        else:
            await asyncio.sleep(down)
        await self.csms.start()
        if self.disk is not None and self.rng.random() < 0.8:
            await self.cut_in_replay()

    def _tx_messages_received(self) -> int:
        ledger = self.csms.ledger
        return sum(len(ledger.received(a, STATION_ID)) for a in self.tx_actions)

    async def cut_in_replay(self) -> None:
        """A power cut while the queue kept through the outage is being delivered: once the
        CSMS has received one to three transaction messages after the outage."""
        wanted = self._tx_messages_received() + self.rng.randint(1, 3)
        deadline = time.monotonic() + 3.0
        while self._tx_messages_received() < wanted:
            if time.monotonic() > deadline:
                return  # little was queued: no replay to cut into
            await asyncio.sleep(0.002)
        self.counters.cuts_in_replay += 1
        await self.kill_and_restart(pause=self.rng.uniform(0.0, 0.5))
