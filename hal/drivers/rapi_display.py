"""The OpenEVSE LCD (2 rows × 16 characters) as a Display, over the controller's RAPI line.

The text goes out with `$FP x y text` through the connector's `RapiController.request`, so
the display shares the controller's serial port, its one-request-at-a-time lock and its
sequence ids; it never opens the port itself.

What the firmware (rapi_proc.cpp) takes, and so what is sent:
- `$F0 0` stops the firmware's own screen updates (sent with every new text: a controller
  that rebooted draws its own again), `$F0 1` gives the screen back (the firmware redraws
  its status) when no text is left;
- the command line is read into a 32-byte buffer and split at every space into at most
  10 tokens (FP x y and the optional `:ss` take 4): text goes in pieces of at most 8
  characters with at most 4 spaces each, which the firmware joins back with their spaces;
- a row is written in full (padded with spaces) so no rest of the last text stays;
- RAPI frames are ASCII without `$ ^ : *`: other characters are shown as `?` (`:` as `.`).

Text longer than the screen is wrapped at spaces into rows and shown two rows a page,
one page every `page_s` seconds, round and round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import textwrap
from typing import Protocol

from hal.drivers.rapi_protocol import RapiFrame
from hal.interfaces import DeviceError, EventSink

log = logging.getLogger(__name__)

COLUMNS = 16
ROWS = 2
PIECE = 8  # characters per FP command: the firmware's 32-byte buffer holds the rest
PIECE_SPACES = 4  # spaces per FP command: the firmware takes at most 10 tokens


class RapiRequests(Protocol):
    """What the display needs of the controller: one RAPI request on its line."""

    async def request(self, command: str) -> RapiFrame: ...


def lcd_text(text: str) -> str:
    """`text` in the characters a RAPI frame can carry and the LCD shows."""
    out = []
    for ch in text:
        if ch == ":":
            out.append(".")
        elif ch == "\t":
            out.append(" ")
        elif not (" " <= ch <= "~") or ch in "$^*":
            out.append("?")
        else:
            out.append(ch)
    return "".join(out)


def screen_rows(lines: list[str], columns: int = COLUMNS) -> list[str]:
    """The lines wrapped at spaces into rows of `columns`, each padded to full width."""
    rows: list[str] = []
    for line in lines:
        wrapped = textwrap.wrap(lcd_text(line), columns, break_on_hyphens=False) or [""]
        rows += [row.ljust(columns) for row in wrapped]
    return rows


def pages(lines: list[str]) -> list[list[str]]:
    """Screens of ROWS rows each (the last one padded with blank rows)."""
    rows = screen_rows(lines) or [" " * COLUMNS]
    found = []
    for i in range(0, len(rows), ROWS):
        page = rows[i : i + ROWS]
        found.append(page + [" " * COLUMNS] * (ROWS - len(page)))
    return found


def fp_commands(row: str, y: int) -> list[str]:
    """The `FP x y text` commands that write one row."""
    commands = []
    x = 0
    while x < len(row):
        piece = ""
        while x + len(piece) < len(row) and len(piece) < PIECE:
            ch = row[x + len(piece)]
            if ch == " " and piece.count(" ") >= PIECE_SPACES:
                break
            piece += ch
        commands.append(f"FP {x} {y} {piece}")
        x += len(piece)
    return commands


class RapiDisplay:
    """Display on the LCD of one OpenEVSE controller (the connector's `RapiController`)."""

    def __init__(self, controller: RapiRequests, *, page_s: float = 4.0) -> None:
        self.controller = controller
        self.page_s = page_s
        self.owned = False  # the firmware's screen updates are off: ours is showing
        self._pager: asyncio.Task[None] | None = None

    async def start(self, emit: EventSink) -> None:
        """Nothing to open: the controller owns the line."""

    async def stop(self) -> None:
        await self._stop_pager()

    async def show(self, lines: list[str]) -> None:
        await self._stop_pager()
        screens = pages(lines)
        # every time: a controller that rebooted meanwhile draws its own screen again
        await self._command("F0 0")
        self.owned = True
        await self._write(screens[0])
        if len(screens) > 1:
            self._pager = asyncio.create_task(self._page(screens), name="rapi-lcd-pager")

    async def clear(self) -> None:
        await self._stop_pager()
        if self.owned:
            await self._command("F0 1")  # the firmware redraws its own screen
            self.owned = False

    async def _page(self, screens: list[list[str]]) -> None:
        i = 0
        while True:
            await asyncio.sleep(self.page_s)
            i = (i + 1) % len(screens)
            try:
                await self._write(screens[i])
            except DeviceError as exc:  # the next page tries again
                log.debug("LCD page not written: %s", exc)

    async def _write(self, screen: list[str]) -> None:
        for y, row in enumerate(screen):
            for command in fp_commands(row, y):
                await self._command(command)

    async def _command(self, command: str) -> None:
        reply = await self.controller.request(command)
        if not reply.ok:
            raise DeviceError(f"the EVSE controller refused {command!r} (no LCD in this build?)")

    async def _stop_pager(self) -> None:
        task, self._pager = self._pager, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
