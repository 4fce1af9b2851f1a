"""One shared Modbus client per serial port or TCP endpoint, one request at a time.

Several meters usually share one RS-485 line under different unit ids. A serial port
can be opened only once and the line carries one request at a time, so every device on
a port talks through the same `ModbusBus`: `for_serial` / `for_tcp` hand out the
instance registered for that port (counting its users), and requests wait for each other
on a lock. Failures become `DeviceError`s that say which link, which unit and why; a
lost connection is reopened on the next request, so a device that comes back simply
answers again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient, ModbusBaseClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from hal.drivers.ports import probe_serial
from hal.interfaces import DeviceError

log = logging.getLogger(__name__)

# Modbus exception codes (Modbus Application Protocol v1.1b3, section 7).
EXCEPTION_NAMES: dict[int, str] = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}
READ_FUNCTIONS = (1, 2, 3, 4)


class ModbusError(DeviceError):
    """A Modbus request failed; `reason` says why in a few words (e.g. "no answer")."""

    def __init__(self, link: str, device_id: int, reason: str) -> None:
        super().__init__(f"modbus {link} unit {device_id}: {reason}")
        self.link = link
        self.device_id = device_id
        self.reason = reason


class ModbusNoAnswer(ModbusError):
    """The device did not answer within the bus timeout."""


class ModbusExceptionResponse(ModbusError):
    """The device answered with a Modbus exception; `code` is the exception code."""

    def __init__(self, link: str, device_id: int, code: int) -> None:
        name = EXCEPTION_NAMES.get(code, "unknown exception")
        super().__init__(link, device_id, f"exception response {code} ({name})")
        self.code = code


class ModbusLinkError(ModbusError):
    """The port or connection could not be opened, or was lost."""


class ModbusBus:
    """A serial port (RTU) or TCP endpoint shared by every device on it.

    Get one with `ModbusBus.for_serial(...)` or `ModbusBus.for_tcp(...)`: each call
    returns the shared instance for that port and counts one user; each user calls
    `close()` once, and the last one closes the connection. Settings must agree between
    users of one port (a line has one baud rate).

    The client is created and connected on the first request, inside the running event
    loop; requests are serialized; one attempt per request (no retries), so a device that
    does not answer costs one `timeout_s`.
    """

    _registry: ClassVar[dict[tuple[Any, ...], ModbusBus]] = {}

    def __init__(
        self,
        key: tuple[Any, ...],
        name: str,
        settings: dict[str, Any],
        make_client: Callable[[], ModbusBaseClient],
    ) -> None:
        """Use `for_serial` / `for_tcp`: they share one instance per port."""
        self.key = key
        self.name = name  # the port path or host:port, for messages
        self.settings = settings
        self._make_client = make_client
        self._client: ModbusBaseClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._users = 0
        self._closed = False

    # --- shared instances ------------------------------------------------------------------

    @classmethod
    def for_serial(
        cls,
        port: str,
        baudrate: int = 9600,
        parity: str = "N",
        stopbits: int = 1,
        timeout_s: float = 1.0,
    ) -> ModbusBus:
        """The bus of serial `port` (Modbus RTU), shared by every device on that line."""
        if parity not in ("N", "E", "O"):
            raise ValueError(f"modbus {port}: parity must be N, E or O, not {parity!r}")
        if stopbits not in (1, 2):
            raise ValueError(f"modbus {port}: stopbits must be 1 or 2, not {stopbits!r}")
        _check_timeout(port, timeout_s)
        settings = {
            "baudrate": baudrate,
            "parity": parity,
            "stopbits": stopbits,
            "timeout_s": timeout_s,
        }

        def make_client() -> ModbusBaseClient:
            return AsyncModbusSerialClient(
                port,
                baudrate=baudrate,
                parity=parity,
                stopbits=stopbits,
                timeout=timeout_s,
                retries=0,
                reconnect_delay=0,  # no background reconnects: the next request reopens
                name=f"modbus {port}",
            )

        return cls._shared(("serial", port), port, settings, make_client)

    @classmethod
    def for_tcp(cls, host: str, port: int = 502, timeout_s: float = 1.0) -> ModbusBus:
        """The bus of a Modbus TCP endpoint (a meter, or an RS-485 gateway)."""
        name = f"{host}:{port}"
        _check_timeout(name, timeout_s)
        settings = {"timeout_s": timeout_s}

        def make_client() -> ModbusBaseClient:
            return AsyncModbusTcpClient(
                host,
                port=port,
                timeout=timeout_s,
                retries=0,
                reconnect_delay=0,
                name=f"modbus {name}",
            )

        return cls._shared(("tcp", host, port), name, settings, make_client)

    @classmethod
    def _shared(
        cls,
        key: tuple[Any, ...],
        name: str,
        settings: dict[str, Any],
        make_client: Callable[[], ModbusBaseClient],
    ) -> ModbusBus:
        bus = cls._registry.get(key)
        if bus is not None and bus._loop is not None and bus._loop.is_closed():
            bus = None  # left by an event loop that has ended (one per test, say)
        if bus is None:
            bus = cls(key, name, settings, make_client)
            cls._registry[key] = bus
        elif bus.settings != settings:
            diff = ", ".join(
                f"{k} {bus.settings[k]!r} (asked {settings[k]!r})"
                for k in settings
                if settings[k] != bus.settings[k]
            )
            raise ValueError(f"modbus {name} is already in use with other settings: {diff}")
        bus._users += 1
        return bus

    @property
    def users(self) -> int:
        """How many users still hold this bus."""
        return self._users

    @property
    def closed(self) -> bool:
        return self._closed

    # --- requests --------------------------------------------------------------------------

    async def read(self, function: int, address: int, count: int, device_id: int) -> list[int]:
        """Read `count` registers (function 3 or 4) or bits (1 or 2, as 0/1) from `address`.

        Raises a DeviceError (ModbusNoAnswer, ModbusExceptionResponse, ModbusLinkError).
        """
        if function not in READ_FUNCTIONS:
            raise ValueError(
                f"modbus read function must be one of {READ_FUNCTIONS}, not {function}"
            )

        def request(client: ModbusBaseClient) -> Awaitable[ModbusPDU]:
            if function == 1:
                return client.read_coils(address, count=count, device_id=device_id)
            if function == 2:
                return client.read_discrete_inputs(address, count=count, device_id=device_id)
            if function == 3:
                return client.read_holding_registers(address, count=count, device_id=device_id)
            return client.read_input_registers(address, count=count, device_id=device_id)

        response = await self._execute(device_id, request)
        if function in (1, 2):
            bits = list(response.bits[:count])
            if len(bits) != count:
                raise ModbusError(self.name, device_id, f"answered {len(bits)} bits of {count}")
            return [int(b) for b in bits]
        registers = list(response.registers)
        if len(registers) != count:
            raise ModbusError(
                self.name, device_id, f"answered {len(registers)} registers of {count}"
            )
        return registers

    async def write_registers(self, address: int, values: Sequence[int], device_id: int) -> None:
        """Write holding registers from `address` (function 16)."""
        await self._execute(
            device_id,
            lambda client: client.write_registers(address, list(values), device_id=device_id),
        )

    async def write_coil(self, address: int, value: bool, device_id: int) -> None:
        """Switch one coil (function 5)."""
        await self._execute(
            device_id, lambda client: client.write_coil(address, value, device_id=device_id)
        )

    async def close(self) -> None:
        """Release one user; the last one closes the port and unregisters the bus."""
        if self._closed:
            return
        self._users = max(0, self._users - 1)
        if self._users:
            return
        self._closed = True
        if self._registry.get(self.key) is self:
            del self._registry[self.key]
        async with self._lock:  # let a request in flight finish first
            if self._client is not None:
                self._client.close()
                self._client = None

    # --- internals -------------------------------------------------------------------------

    async def _execute(
        self, device_id: int, request: Callable[[ModbusBaseClient], Awaitable[ModbusPDU]]
    ) -> ModbusPDU:
        async with self._lock:
            if self._closed:  # checked under the lock: close() may have run while we waited
                raise ModbusLinkError(self.name, device_id, "bus closed")
            client = await self._connected(device_id)
            try:
                response = await request(client)
            except ModbusIOException as exc:
                # pymodbus reports a timeout, and an answer from the wrong unit or
                # transaction, as an I/O error; both mean "this device did not answer".
                raise ModbusNoAnswer(self.name, device_id, "no answer") from exc
            except (ConnectionException, OSError) as exc:
                client.close()  # reopened by the next request
                raise ModbusLinkError(self.name, device_id, f"link lost: {exc}") from exc
            except ModbusException as exc:
                raise ModbusError(self.name, device_id, str(exc)) from exc
        if response.isError():
            raise ModbusExceptionResponse(
                self.name, device_id, int(getattr(response, "exception_code", 0))
            )
        return response

    async def _connected(self, device_id: int) -> ModbusBaseClient:
        if self._client is None:
            self._client = self._make_client()
            self._loop = asyncio.get_running_loop()
        if not self._client.connected:
            if not await self._client.connect():
                raise ModbusLinkError(self.name, device_id, self._why_not_connected())
            log.info("modbus %s: connected", self.name)
        return self._client

    def _why_not_connected(self) -> str:
        if self.key[0] == "tcp":
            return "cannot connect"
        # pymodbus' connect() only says False (and logs why, a log we keep quiet): ask the OS.
        return probe_serial(self.name) or "cannot open the port"

    def __repr__(self) -> str:
        return f"<ModbusBus {self.name} users={self._users}{' closed' if self._closed else ''}>"


def _check_timeout(name: str, timeout_s: float) -> None:
    if not timeout_s > 0:
        raise ValueError(f"modbus {name}: timeout_s must be positive, not {timeout_s!r}")
