"""The simulated OpenEVSE's end of the serial line: command lines in, frames out.

Lines end with CR and are queued for the device in order; a nudge (`None` in the queue)
asks the device to look at its state without a command. A silent device (a cut line)
hears every line but lets none through and sends nothing, except what a test forces.
"""

from __future__ import annotations

import asyncio

from hal.sim.pty import PtyLine

MAX_LINE = 256  # longer without CR is noise: dropped, as the firmware's buffer overflows


class DeviceLine:
    def __init__(self) -> None:
        self.silent = False
        self.lines_heard = 0  # every line that reached the device, also while silent
        self._pty = PtyLine("rapi device")
        self._buffer = bytearray()
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()

    @property
    def port(self) -> str:
        return self._pty.port

    def open(self) -> None:
        self._pty.open(self._received)

    def close(self) -> None:
        self._pty.close()

    def nudge(self) -> None:
        """Wake the device without a command (its state changed)."""
        self._inbox.put_nowait(None)

    async def next(self) -> bytes | None:
        """The next command line (without its CR), or None for a nudge."""
        return await self._inbox.get()

    def write(self, data: bytes, *, force: bool = False) -> None:
        if force or not self.silent:
            self._pty.write(data)

    def _received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r")) >= 0:
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            self.lines_heard += 1
            if not self.silent:
                self._inbox.put_nowait(line)
        if len(self._buffer) > MAX_LINE:
            self._buffer.clear()
