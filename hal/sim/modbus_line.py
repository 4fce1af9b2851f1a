"""Where a simulated Modbus device listens: TCP on 127.0.0.1, or RTU on a pty.

Shared by the simulated meters and power stages. Unit ids without a device never
answer (as on a real RS-485 line), so a driver sees a timeout, not an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusBaseServer, ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice


class ModbusLine:
    """A pymodbus server for a set of simulated devices (SimDevice), on TCP or a pty."""

    def __init__(
        self, transport: Literal["tcp", "rtu"], *, host: str, port: int, name: str
    ) -> None:
        if transport not in ("tcp", "rtu"):
            raise ValueError(f"{name}: transport must be tcp or rtu, not {transport!r}")
        self.transport = transport
        self.host = host
        self.name = name
        self._want_port = port
        self._port: int | str | None = None
        self._server: ModbusBaseServer | None = None
        self._pty: tuple[int, int] | None = None  # master, slave

    @property
    def started(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int | str:
        """TCP port number, or the pty slave path for RTU (after start())."""
        if self._port is None:
            raise RuntimeError(f"{self.name}: not started")
        return self._port

    async def start(self, devices: list[SimDevice]) -> None:
        """Serve `devices` (inside the running event loop)."""
        if self._server is not None:
            return
        devices = [
            *devices,
            SimDevice(  # every other unit id: never answer (ignore_missing_devices)
                id=0,
                simdata=SimData(0, count=0x10000, values=0, datatype=DataType.REGISTERS),
                action=_no_such_unit,
            ),
        ]
        server: ModbusBaseServer
        if self.transport == "tcp":
            server = ModbusTcpServer(
                devices, address=(self.host, self._want_port), ignore_missing_devices=True
            )
            await server.serve_forever(background=True)
            sockets = server.transport.sockets  # type: ignore[attr-defined]
            self._port = int(sockets[0].getsockname()[1])
        else:
            master, slave = os.openpty()
            tty.setraw(slave)  # no echo, no line editing: bytes pass as they are
            os.set_blocking(master, False)
            self._pty = (master, slave)
            path = os.ttyname(slave)
            server = ModbusSerialServer(devices, port=path, ignore_missing_devices=True)
            # pymodbus opens serial servers by path with pyserial; a pty's master has no
            # path, so hand the listener a transport over the master fd instead.
            loop = asyncio.get_running_loop()
            server.call_create = partial(
                _open_pty_master, loop, server.handle_new_connection, master
            )
            await server.serve_forever(background=True)
            self._port = path
        self._server = server

    async def stop(self) -> None:
        """Stop serving; an RTU line's pty disappears (drivers on it see the port close)."""
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()
        if self._pty is not None:
            for fd in self._pty:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._pty = None


async def _no_such_unit(*_args: Any) -> ExcCodes | None:
    raise NoSuchIdException("no device at this unit")


# --- RTU on a pty ------------------------------------------------------------------------


class _PtyMasterTransport(asyncio.Transport):
    """An asyncio transport over the master fd of a pty (the server's end of the line)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, protocol: asyncio.Protocol, fd: int
    ) -> None:
        super().__init__()
        self._loop = loop
        self._protocol = protocol
        self._fd = fd
        self._out = bytearray()
        self._closed = False

    def open(self) -> None:
        self._loop.add_reader(self._fd, self._read_ready)
        self._protocol.connection_made(self)

    def _read_ready(self) -> None:
        try:
            data = os.read(self._fd, 1024)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            # EIO: no slave open right now (we keep one open, so only during teardown).
            return
        if data:
            self._protocol.data_received(data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            return
        self._out += data
        self._write_ready()

    def _write_ready(self) -> None:
        try:
            written = os.write(self._fd, self._out)
        except (BlockingIOError, InterruptedError):
            written = 0
        except OSError:
            self._out.clear()
            return
        del self._out[:written]
        if self._out:
            self._loop.add_writer(self._fd, self._write_ready)
        else:
            self._loop.remove_writer(self._fd)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)

    def is_closing(self) -> bool:
        return self._closed

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol  # type: ignore[assignment]

    def abort(self) -> None:
        self.close()


async def _open_pty_master(
    loop: asyncio.AbstractEventLoop, protocol_factory: Callable[[], Any], fd: int
) -> tuple[asyncio.Transport, asyncio.Protocol]:
    """Stands in for pymodbus's create_serial_connection: same contract, over a pty fd."""
    protocol = protocol_factory()
    transport = _PtyMasterTransport(loop, protocol, fd)
    loop.call_soon(transport.open)
    return transport, protocol
