"""`chargerctl limit` and `chargerctl schedule`: an external limit (an EMS, a grid operator's
control box) set on site, and the composite schedule the station applies."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..daemon import Daemon
    from .part import SmartPart

SOURCES = ("EMS", "SO", "Other")  # never CSO: the CSMS sets its limits with profiles
DEFAULT_DURATION_S = 86_400
LIMIT_USAGE = "limit AMPS [--connector N] [--source EMS|SO|Other] | limit clear [--connector N]"
SCHEDULE_USAGE = "schedule [--connector N] [--duration S] [--json]"


def _parse(args: list[str], flags: dict[str, bool], usage: str) -> tuple[list[str], dict[str, str]]:
    """Positional words and `--name value` options (`flags[name]`: takes a value)."""
    words: list[str] = []
    options: dict[str, str] = {}
    rest = iter(args)
    for word in rest:
        if not word.startswith("--"):
            words.append(word)
        elif word not in flags:
            raise ValueError(f"unknown option {word}; usage: {usage}")
        elif flags[word]:
            value = next(rest, None)
            if value is None:
                raise ValueError(f"{word} needs a value; usage: {usage}")
            options[word] = value
        else:
            options[word] = ""
    return words, options


def _connector(daemon: Daemon, text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or (int(text) != 0 and int(text) not in daemon.station.connectors):
        known = ", ".join(str(n) for n in daemon.station.connectors)
        raise ValueError(f"no connector {text}; this station has {known} (0: the station)")
    return int(text)


def _part(daemon: Daemon) -> SmartPart:
    from .part import SmartPart

    part = daemon.parts.get("smart")
    assert isinstance(part, SmartPart)
    return part


def external_control_allowed(daemon: Daemon) -> bool:
    """2.0.1 SmartChargingCtrlr.ExternalControlSignalsEnabled (1.6 has no such switch)."""
    dm = getattr(daemon.adapter, "dm", None)  # the 2.0.1 device model
    if dm is None:
        return True
    try:
        return bool(dm.value("SmartChargingCtrlr", "ExternalControlSignalsEnabled"))
    except KeyError:
        return True


def _where(connector: int) -> str:
    return "the station" if connector == 0 else f"connector {connector}"


async def limit(daemon: Daemon, args: list[str]) -> str:
    """`chargerctl limit AMPS [--connector N] [--source S]` / `limit clear [--connector N]`."""
    words, options = _parse(args, {"--connector": True, "--source": True}, LIMIT_USAGE)
    if len(words) != 1:
        raise ValueError(f"usage: {LIMIT_USAGE}")
    part = _part(daemon)
    connector = _connector(daemon, options.get("--connector"))
    if words[0] == "clear":
        if "--source" in options:
            raise ValueError(f"limit clear takes no --source; usage: {LIMIT_USAGE}")
        cleared = part.clear_external(connector)
        await daemon.feed(part.apply)
        if not cleared:
            return "no external limit to clear"
        return "external limit cleared: " + ", ".join(_where(n) for n in sorted(cleared))
    if not external_control_allowed(daemon):
        raise ValueError(
            "external limits are disabled: SmartChargingCtrlr.ExternalControlSignalsEnabled is "
            "false (chargerctl ocpp set SmartChargingCtrlr.ExternalControlSignalsEnabled true)"
        )
    try:
        amps = float(words[0])
    except ValueError:
        raise ValueError(f"{words[0]!r} is not a current; usage: {LIMIT_USAGE}") from None
    if not 0 <= amps <= 1000:
        raise ValueError(f"{words[0]} A: allowed 0..1000 A per phase")
    source = options.get("--source", "EMS")
    if source not in SOURCES:
        raise ValueError(f"source {source!r}; allowed: {', '.join(SOURCES)}")
    target = connector or 0
    part.set_external(target, amps, source)
    await daemon.feed(part.apply)
    return f"external limit {amps:g} A ({source}) on {_where(target)}"


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def schedule(daemon: Daemon, args: list[str]) -> str:
    """`chargerctl schedule [--connector N] [--duration S] [--json]`: the composite."""
    flags = {"--connector": True, "--duration": True, "--json": False}
    words, options = _parse(args, flags, SCHEDULE_USAGE)
    if words:
        raise ValueError(f"usage: {SCHEDULE_USAGE}")
    connector = _connector(daemon, options.get("--connector")) or 0
    duration_text = options.get("--duration", str(DEFAULT_DURATION_S))
    if not duration_text.isdigit() or int(duration_text) == 0:
        raise ValueError(f"--duration {duration_text}: give seconds, e.g. 3600")
    duration = int(duration_text)
    part = _part(daemon)
    now = time.time()
    periods = part.engine.composite(connector, now, duration, part.sessions(now))
    if "--json" in options:
        return json.dumps(
            {
                "connector": connector,
                "start": _iso(now),
                "duration_s": duration,
                "periods": [
                    {"start_s": p.start_s, "limit_a": p.limit_a, "source": p.source}
                    for p in periods
                ],
            }
        )
    lines = [f"{_where(connector)}: composite schedule from {_iso(now)} for {duration} s"]
    lines += [
        f"  +{p.start_s:>6} s  {p.limit_a:6.1f} A  {p.source}  (from {_iso(now + p.start_s)})"
        for p in periods
    ]
    return "\n".join(lines)
