"""A simulated display: remembers the lines it was asked to show (`chargerctl status` and
tests read them)."""

from __future__ import annotations

from hal.interfaces import EventSink


class SimDisplay:
    """Display of one connector (or the station, connector 0)."""

    def __init__(self, connector: int = 0) -> None:
        self.connector = connector
        self.lines: list[str] = []
        self.shown = 0  # how many times show() was called
        self.running = False

    async def start(self, emit: EventSink) -> None:
        self.running = True

    async def stop(self) -> None:
        self.running = False

    async def show(self, lines: list[str]) -> None:
        self.lines = list(lines)
        self.shown += 1

    async def clear(self) -> None:
        self.lines = []
