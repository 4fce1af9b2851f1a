"""End-to-end harness for OCPP 2.0.1: the real daemon against `devcsms.Csms201`.

Imported by test_ocpp201.py (fixtures `csms` and `station` there are these, not the 1.6
ones of conftest.py). `Station201` is conftest's `Station` with `ocpp_version: "2.0.1"`,
a nested `ocpp:` block of fast device-model values, and 2.0.1 waits.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from devcsms import Csms201, Tx201

from .conftest import STATION_ID, WAIT_S, Station, _failed, calls, wait_call, wait_until

# Fast device-model values for tests (component -> variable -> value); tests change them.
FAST_OCPP201: dict[str, dict[str, Any]] = {
    "OCPPCommCtrlr": {
        "HeartbeatInterval": 300,
        "MessageAttemptInterval": 1,
    },
    "SampledDataCtrlr": {"TxUpdatedInterval": 1},
}


class Station201(Station):
    def __init__(self, csms: Csms201, tmp_path: Path, sock_dir: Path) -> None:
        super().__init__(csms, tmp_path, sock_dir)  # type: ignore[arg-type]
        self.csms: Csms201 = csms
        self.ocpp = {component: dict(values) for component, values in FAST_OCPP201.items()}

    def set_ocpp(self, component: str, variable: str, value: Any) -> None:
        self.ocpp.setdefault(component, {})[variable] = value

    def config(self) -> dict[str, Any]:
        config = super().config()
        config["csms"]["ocpp_version"] = "2.0.1"
        config["ocpp"] = {component: dict(values) for component, values in self.ocpp.items()}
        return config

    async def wait_statuses_reported(self, after: int, connectors=(1, 2)) -> None:  # type: ignore[override]
        def reported() -> bool:
            seen = {e.payload["evseId"] for e in calls(self.csms, "StatusNotification", after)}
            return set(connectors) <= seen

        await wait_until(reported, f"StatusNotification for EVSEs {connectors}")

    async def start_session(self, connector: int = 1, tag: str = "TAG1") -> str:  # type: ignore[override]
        """Plug in and present a tag; the transactionId once Charging at the CSMS."""
        after = len(self.csms.ledger.entries)
        await self.sim("plug", str(connector))
        await self.sim("tag", tag)
        await self.wait_status(connector, "Charging")
        started = await wait_tx_event(self.csms, "Started", after=after)
        tx_id = started.payload["transactionInfo"]["transactionId"]
        await wait_tx_event(self.csms, "Updated", after=after, chargingState="Charging")
        return tx_id

    def handshake_ok(self) -> bool:
        """The station offered exactly the 2.0.1 subprotocol and got it."""
        hs = self.csms.handshakes[self.station_id]
        return hs.offered_subprotocols == ["ocpp2.0.1"] and hs.subprotocol == "ocpp2.0.1"

    def tx(self, tx_id: str) -> Tx201:
        return self.csms.ledger.transactions[tx_id]


async def wait_tx_event(
    csms: Csms201, event_type: str, *, after: int = 0, timeout: float = WAIT_S, **info: Any
):
    """The first TransactionEvent of `event_type` whose transactionInfo has these fields,
    once the CSMS has answered it."""

    def matches(e) -> bool:
        return (
            e.kind == "call"
            and e.direction == "in"
            and e.station_id == STATION_ID
            and e.action == "TransactionEvent"
            and e.payload.get("eventType") == event_type
            and all(e.payload["transactionInfo"].get(k) == v for k, v in info.items())
        )

    matches.__name__ = f"TransactionEvent {event_type} {info}"
    entry = await csms.wait_for(matches, timeout, after=after)
    await csms.wait_for(
        lambda e: (
            e.direction == "out"
            and e.kind in ("result", "error")
            and e.unique_id == entry.unique_id
        ),
        timeout,
        after=entry.index,
    )
    return entry


def tx_events(csms: Csms201, tx_id: str, after: int = 0) -> list[dict]:
    """TransactionEvent payloads of one transaction as received (retries included)."""
    return [
        e.payload
        for e in calls(csms, "TransactionEvent", after)
        if e.payload["transactionInfo"]["transactionId"] == tx_id
    ]


def energy(meter_values: list[dict]) -> list[float]:
    """Energy.Active.Import.Register values (Wh) in 2.0.1 MeterValue objects."""
    return [
        float(sv["value"])
        for mv in meter_values
        for sv in mv["sampledValue"]
        if sv.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register"
    ]


@pytest.fixture
async def csms():
    """The 2.0.1 CSMS; every test ends with its ledger free of protocol violations."""
    server = Csms201(close_timeout=0.5)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    violations = server.ledger.violations
    assert violations == [], "protocol violations of the station:\n" + "\n".join(violations)


@pytest.fixture
async def station(csms: Csms201, tmp_path: Path, request: pytest.FixtureRequest):
    """A 2.0.1 daemon (not started yet); killed at the end, its log printed on failure."""
    sock_dir = Path(tempfile.mkdtemp(prefix="cd-", dir="/tmp"))
    st = Station201(csms, tmp_path, sock_dir)
    try:
        yield st
    finally:
        if st.running:
            st.kill()
        if _failed(request.node) or csms.ledger.violations:
            print(f"===== chargerd log ({st.log_path}) =====")
            print(st.log())
            print("===== CSMS ledger =====")
            for entry in csms.ledger.entries[-80:]:
                print(f"  {entry}")
        shutil.rmtree(sock_dir, ignore_errors=True)


__all__ = ["Station201", "csms", "energy", "station", "tx_events", "wait_call", "wait_tx_event"]
