"""The OCPP messages of the feature blocks, each module imported when it is first wanted.

A block's messages (ocpp16/smart.py, ocpp201/display.py, ...) are answered in a module of
its own. An adapter lists its blocks: the module, what in it makes the messages from the
adapter, the CSMS requests they answer, and whether they attach to the daemon's parts (to
report what the parts do: firmware statuses, certificate renewals, limit changes). The
request names are registered at once, so the station answers them and lists them as
supported; a block's module is imported on the first of its requests, when the adapter
asks for the block (`get`), or, for blocks that attach, once the daemon's parts exist,
which is after the first BootNotification has left. Importing them all with the adapter
cost about a tenth of the cold start (tests/e2e/test_cold_start.py keeps them out).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from .connection import RequestHandler


@dataclass(frozen=True)
class Block:
    name: str  # what the adapter asks for: "smart", "security", ...
    module: str  # "chargerd.ocpp16.smart"
    make: str  # in the module: called with the adapter, gives the block's messages
    actions: tuple[str, ...]  # the CSMS requests they answer
    attaches: bool = False  # made as soon as the daemon's parts exist


class Host(Protocol):
    """What the blocks need of an adapter (CsmsConnection gives it)."""

    def add_handlers(self, handlers: dict[str, RequestHandler]) -> None: ...

    def handler(self, action: str) -> RequestHandler: ...

    def when_parts_built(self, attach: Callable[[], object]) -> None: ...


class Blocks:
    """One adapter's blocks: made on first use, then kept."""

    def __init__(self, host: Host, blocks: Iterable[Block]) -> None:
        self._host = host
        self._blocks = {b.name: b for b in blocks}
        self._made: dict[str, Any] = {}
        host.add_handlers(
            {a: self._first(b.name, a) for b in self._blocks.values() for a in b.actions}
        )
        host.when_parts_built(self._attach)

    def get(self, name: str) -> Any:
        """The messages of block `name`, made now if they were not yet."""
        made = self._made.get(name)
        if made is None:
            block = self._blocks[name]
            made = getattr(importlib.import_module(block.module), block.make)(self._host)
            self._made[name] = made
            # a block gives its handlers (a dict, or `handlers()`), or registered them itself
            handlers = made if isinstance(made, dict) else getattr(made, "handlers", dict)()
            self._host.add_handlers(handlers)
        return made

    def made(self, name: str) -> Any | None:
        """The messages of block `name` if they were made (None: nothing of it happened)."""
        return self._made.get(name)

    def _first(self, name: str, action: str) -> RequestHandler:
        """Stands for the block's handler of `action` until the block is made."""

        async def answer(payload: dict[str, Any]) -> dict[str, Any]:
            self.get(name)
            handler = self._host.handler(action)
            if handler is answer:
                raise AssertionError(f"block {name} gives no handler for {action}")
            return await handler(payload)

        return answer

    def _attach(self) -> None:
        for block in self._blocks.values():
            if block.attaches:
                self.get(block.name)
