"""Fixtures of the outbox tests: a scripted CSMS on 127.0.0.1, a link to it, a store."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from outbox_harness import Csms, Link
from websockets.asyncio.server import serve

from chargerd.store import Store


@pytest.fixture
async def csms() -> AsyncIterator[Csms]:
    peer = Csms()
    async with serve(peer.handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        peer.server = server
        yield peer


@pytest.fixture
async def link(csms: Csms) -> AsyncIterator[Link]:
    async with contextlib.AsyncExitStack() as stack:
        yield Link(csms, stack)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "state")
