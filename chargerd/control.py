"""The control socket: `chargerctl` talks to the running daemon over a Unix socket.

Protocol: one JSON request per line, one JSON answer per line.
  {"cmd": "status"}                             -> {"ok": true, "status": {...}}
  {"cmd": "sim", "args": ["plug", "1"]}         -> {"ok": true, "message": "..."}
  {"cmd": "unlock", "args": ["1"]}, and stop, availability, reset, ocpp, log-level
                                                -> {"ok": true, "message": "..."}
  anything wrong, or refused                    -> {"ok": false, "error": "..."}
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("chargerd.control")
MAX_REQUEST = 64 * 1024


class Controllable(Protocol):
    def status(self) -> dict[str, Any]: ...
    async def sim_command(self, command: str, args: list[str]) -> str: ...

    async def command(self, command: str, args: list[str]) -> str:
        """A technician's command (technician.COMMANDS); ValueError when refused."""
        ...


class ControlServer:
    def __init__(self, path: Path):
        self.path = path
        self._target: Controllable | None = None
        self._server: asyncio.Server | None = None

    def attach(self, target: Controllable) -> None:
        """Answer for `target` from now on (a soft reset attaches the new station)."""
        self._target = target

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_socket():
            self.path.unlink()  # left by a daemon that was killed
        self._server = await asyncio.start_unix_server(
            self._serve, path=str(self.path), limit=MAX_REQUEST
        )
        os.chmod(self.path, 0o660)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self.path.unlink(missing_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                answer = await self._answer(line)
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError, asyncio.LimitOverrunError) as exc:
            log.debug("control client went away: %s", exc)
        finally:
            writer.close()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request is a JSON object")
            if self._target is None:
                return {"ok": False, "error": "the station is starting; try again"}
            if request.get("cmd") == "status":
                return {"ok": True, "status": self._target.status()}
            args = [str(a) for a in request.get("args", [])]
            if request.get("cmd") == "sim":
                if not args:
                    raise ValueError("sim needs a command")
                message = await self._target.sim_command(args[0], args[1:])
            else:
                message = await self._target.command(str(request.get("cmd")), args)
            return {"ok": True, "message": message}
        except ValueError as exc:
            return {"ok": False, "error": str(exc)}
