"""The device side of a pty, for the simulators of serial devices.

The driver opens `port` (the slave side); the simulator reads and writes the master side
from the asyncio loop (add_reader, no threads). The slave stays open here too, so the
master never sees a hang-up while the driver closes and reopens its side.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tty
from collections.abc import Callable

log = logging.getLogger(__name__)


class PtyLine:
    """`backlog` 0: what does not fit into the pty is dropped at once (a device that talks
    to nobody). Above 0: it waits for the driver to read, up to that many bytes (a USB
    adapter that buffers), and the whole backlog is dropped beyond that."""

    def __init__(self, name: str, *, backlog: int = 0) -> None:
        self.name = name  # for the debug log: "rapi device", "pn532 device"
        self.backlog = backlog
        self._master: int | None = None
        self._slave: int | None = None
        self._port: str | None = None
        self._pending = bytearray()  # written, not yet taken by the pty (with a backlog)
        self._writing = False

    @property
    def port(self) -> str:
        """The pty slave path the driver opens (after open())."""
        if self._port is None:
            raise RuntimeError(f"{self.name}: start() first")
        return self._port

    @property
    def is_open(self) -> bool:
        return self._master is not None

    def open(self, received: Callable[[bytes], None]) -> None:
        """Open the pty; `received` gets what the driver writes, as it arrives."""
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self._port = os.ttyname(self._slave)
        asyncio.get_running_loop().add_reader(self._master, self._read, received)

    def close(self) -> None:
        if self._master is None:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._master)
        if self._writing:
            loop.remove_writer(self._master)
            self._writing = False
        self._pending.clear()
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def write(self, data: bytes) -> None:
        """To the driver; dropped (and logged at debug) when the line is full."""
        if self._master is None:
            return
        if self.backlog:
            self._queue(data)
            return
        try:
            os.write(self._master, data)
        except (BlockingIOError, InterruptedError):
            log.debug("%s: line full, dropped %r", self.name, data)
        except OSError as exc:
            log.debug("%s: write failed: %s", self.name, exc)

    def _queue(self, data: bytes) -> None:
        if len(self._pending) + len(data) > self.backlog:
            log.warning("%s: nobody reads the pty, dropping output", self.name)
            self._pending.clear()
            return
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        assert self._master is not None
        while self._pending:
            try:
                written = os.write(self._master, self._pending)
            except (BlockingIOError, InterruptedError):
                if not self._writing:
                    asyncio.get_running_loop().add_writer(self._master, self._flush)
                    self._writing = True
                return
            except OSError as exc:
                log.warning("%s: write failed: %s", self.name, exc)
                self._pending.clear()
                break
            del self._pending[:written]
        if self._writing:
            asyncio.get_running_loop().remove_writer(self._master)
            self._writing = False

    def _read(self, received: Callable[[bytes], None]) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # EIO: cannot happen while we hold the slave, but be safe
            log.debug("%s: read failed: %s", self.name, exc)
            return
        received(data)
