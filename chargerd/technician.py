"""What a technician on site does through `chargerctl`: unlock a cable, end a session, take a
connector out of service, reset the station, read and change OCPP configuration, turn up
the log — and what became of a card shown to the (simulated) reader.

Each command reaches the core the way the CSMS's request would (`Runtime.feed`), and OCPP
configuration goes through the adapter's own checks and persistence, so a technician can do
nothing the CSMS could not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .core.authorization import same_tag
from .core.model import (
    AuthorizationRejected,
    Decision,
    RefusedBy,
    RequestAuthorization,
    TransactionEnded,
    TransactionStarted,
)

if TYPE_CHECKING:
    from .daemon import Daemon

log = logging.getLogger("chargerd")

LOG_LEVELS = ("debug", "info", "warning", "error")
TAG_DECISION_S = 4.0  # how long `sim tag` waits for the CSMS's verdict before saying so


def _connector(daemon: Daemon, text: str) -> int:
    if not text.isdigit() or int(text) not in daemon.station.connectors:
        known = ", ".join(str(n) for n in daemon.station.connectors)
        raise ValueError(f"no connector {text}; this station has {known}")
    return int(text)


def _arity(args: list[str], count: int, usage: str) -> None:
    if len(args) != count:
        raise ValueError(f"usage: {usage}")


async def unlock(daemon: Daemon, args: list[str]) -> str:
    _arity(args, 1, "unlock N")
    n = _connector(daemon, args[0])
    station = daemon.station
    if station.connectors[n].transaction is not None:
        raise ValueError(f"a session runs on connector {n}: end it first (chargerctl stop {n})")
    if not daemon.has_lock(n):
        raise ValueError(f"connector {n} has no cable lock")
    await daemon.feed(lambda now: station.unlock(n, now))
    if not daemon.lock_result(n):
        raise ValueError(f"connector {n}: the lock did not open (UnlockFailed)")
    return f"connector {n}: unlocked"


async def stop(daemon: Daemon, args: list[str]) -> str:
    _arity(args, 1, "stop N")
    n = _connector(daemon, args[0])
    station = daemon.station
    tx = station.connectors[n].transaction
    if not await daemon.feed(lambda now: station.local_stop(n, now)) or tx is None:
        raise ValueError(f"no session runs on connector {n}")
    return f"connector {n}: session {tx.id} ended (reason Local)"


async def availability(daemon: Daemon, args: list[str]) -> str:
    usage = "availability N|station operative|inoperative"
    _arity(args, 2, usage)
    target = 0 if args[0] == "station" else _connector(daemon, args[0])
    if args[1] not in ("operative", "inoperative"):
        raise ValueError(f"usage: {usage}")
    operative = args[1] == "operative"
    station = daemon.station
    status = await daemon.feed(lambda now: station.change_availability(target, operative, now))
    what = "the station" if target == 0 else f"connector {target}"
    if status == "Scheduled":
        return f"{what}: {args[1]} once the running session ends (Scheduled)"
    return f"{what}: {args[1]} ({status})"


async def reset(daemon: Daemon, args: list[str]) -> str:
    _arity(args, 1, "reset soft|hard")
    if args[0] not in ("soft", "hard"):
        raise ValueError("usage: reset soft|hard")
    daemon.request_reset(hard=args[0] == "hard", by="chargerctl")
    if args[0] == "hard":
        return "hard reset: sessions end, then chargerd exits 75 for systemd to restart it"
    return "soft reset: sessions end, then the station restarts in-process"


async def ocpp(daemon: Daemon, args: list[str]) -> str:
    if args[:1] == ["get"] and len(args) == 2:
        return daemon.adapter.ocpp_get(args[1])
    if args[:1] == ["set"] and len(args) == 3:
        return daemon.adapter.ocpp_set(args[1], args[2])
    raise ValueError("usage: ocpp get KEY | ocpp set KEY VALUE")


async def log_level(daemon: Daemon, args: list[str]) -> str:
    _arity(args, 1, f"log-level {'|'.join(LOG_LEVELS)}")
    level = args[0].lower()
    if level not in LOG_LEVELS:
        raise ValueError(f"usage: log-level {'|'.join(LOG_LEVELS)}")
    logging.getLogger().setLevel(level.upper())
    log.warning("log level set to %s by chargerctl (until the next start)", level)
    return f"log level: {level} (until the daemon restarts; log.level in the YAML for good)"


async def limit(daemon: Daemon, args: list[str]) -> str:
    from .smart import commands  # smart charging's own commands, imported when used

    return await commands.limit(daemon, args)


async def schedule(daemon: Daemon, args: list[str]) -> str:
    from .smart import commands

    return await commands.schedule(daemon, args)


async def logs(daemon: Daemon, args: list[str]) -> str:
    from .updates import bundle  # the diagnostics bundle, imported when used

    return await bundle.command(daemon, args)


async def certs(daemon: Daemon, args: list[str]) -> str:
    from .security import commands  # the certificate store, imported when used

    return await commands.certs(daemon, args)


async def firmware(daemon: Daemon, args: list[str]) -> str:
    from .updates import commands  # the firmware block's own command, imported when used

    return await commands.firmware(daemon, args)


COMMANDS: dict[str, Callable[[Daemon, list[str]], Awaitable[str]]] = {
    "unlock": unlock,
    "stop": stop,
    "availability": availability,
    "reset": reset,
    "ocpp": ocpp,
    "log-level": log_level,
    "limit": limit,
    "schedule": schedule,
    "logs": logs,
    "certs": certs,
    "firmware": firmware,
}


async def run(daemon: Daemon, command: str, args: list[str]) -> str:
    """One technician command; its answer, or ValueError saying why not."""
    action = COMMANDS.get(command)
    if action is None:
        raise ValueError(f"unknown command {command!r}")
    return await action(daemon, args)


# --- what became of a card ---------------------------------------------------------------------


@dataclass
class TagOutcome:
    """Watches the core's decisions about one presented card until it is decided (a
    `daemon.Watcher`)."""

    daemon: Daemon
    id_tag: str
    asked: bool = False  # the CSMS was asked (Authorize)
    decided: asyncio.Event = field(default_factory=asyncio.Event)
    verdict: str = ""

    def see(self, d: Decision) -> None:
        if self.decided.is_set():
            return
        if isinstance(d, TransactionStarted) and same_tag(d.transaction.id_tag, self.id_tag):
            self._decide(f"accepted: session started on connector {d.transaction.connector}")
        elif isinstance(d, TransactionEnded) and d.id_tag and same_tag(d.id_tag, self.id_tag):
            tx = d.transaction
            self._decide(f"session {tx.id} on connector {tx.connector} stopped (reason Local)")
        elif isinstance(d, AuthorizationRejected) and same_tag(d.id_tag, self.id_tag):
            if d.by is RefusedBy.NO_CONNECTOR:
                self._decide("ignored: accepted, but no connector can start a session now")
            else:
                self._decide(self.daemon.adapter.refusal(d))
        elif isinstance(d, RequestAuthorization) and same_tag(d.id_tag, self.id_tag):
            self.asked = True

    def settled(self) -> None:
        """After a pass of the core: a card that was accepted but has no EV yet, or that
        nothing happened to, is decided too."""
        if self.decided.is_set():
            return
        station = self.daemon.station
        waiting = station.waiting_for_plug
        if waiting is not None and same_tag(waiting.id_tag, self.id_tag):
            self._decide("accepted: plug in an EV to start (ConnectionTimeOut applies)")
            return
        for c in station.connectors.values():
            if c.authorization is not None and same_tag(c.authorization.id_tag, self.id_tag):
                self._decide(f"accepted: plug in an EV on connector {c.id} to start")
                return
        if not self.asked:
            self._decide("ignored: nothing to start or stop with this card here")

    def _decide(self, verdict: str) -> None:
        self.verdict = verdict
        self.decided.set()

    async def wait(self) -> str:
        try:
            async with asyncio.timeout(TAG_DECISION_S):
                await self.decided.wait()
        except TimeoutError:
            return f"no decision within {TAG_DECISION_S:g} s: still waiting for the CSMS's answer"
        return self.verdict


async def present_tag(daemon: Daemon, id_tag: str, connector: int | None) -> str:
    """`chargerctl sim tag`: present the card as the reader would and say what became of it."""
    from hal.interfaces import TagPresented

    outcome = TagOutcome(daemon, id_tag)
    daemon.watchers.append(outcome)
    try:
        daemon.emit(TagPresented(id_tag, connector))
        return await outcome.wait()
    finally:
        daemon.watchers.remove(outcome)
