"""TransactionEvent numbering and order of the 2.0.1 adapter, without a network.

The real core, store and adapter; a small runtime stands in for the daemon (it carries out
the core's decisions, plays an EV that draws current when offered, and keeps the clock).
What reaches the outbox is what the CSMS would get, in order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chargerd.config import Config, ConnectorConfig, CsmsConfig, StationInfo
from chargerd.core.model import AuthInfo, AuthStatus, OfferCurrent, StopReason
from chargerd.core.station import ConnectorSpec, Station
from chargerd.ocpp201.adapter import Ocpp201Adapter
from chargerd.ocpp201.sequencing import SeqNumbers
from chargerd.rpc import OCPP201, check_payload
from chargerd.store import Store
from hal.interfaces import FaultRaised, MeterReading, PilotChanged, PilotState, TagPresented

T0 = 1_750_000_000.0


def make_config(tmp_path: Path, ocpp: dict | None = None) -> Config:
    return Config(
        path=tmp_path / "station.yaml",
        station=StationInfo(id="CP-1"),
        csms=CsmsConfig(url="ws://127.0.0.1:9/ocpp"),
        connectors=(ConnectorConfig(id=1), ConnectorConfig(id=2)),
        storage_dir=tmp_path / "state",
        ocpp=ocpp or {"SampledDataCtrlr": {"TxUpdatedInterval": 10, "TxEndedInterval": 20}},
    )


class Runtime:
    """The daemon's part: feed the core, carry out its decisions, react like an EV."""

    def __init__(self, config: Config):
        self.config = config
        self.store = Store(config.storage_dir)
        self.adapter = Ocpp201Adapter(config, self.store)
        self.station = Station(
            [ConnectorSpec(c.id, c.max_current_a, c.phases) for c in config.connectors],
            self.adapter.settings,
            auth_cache=self.store.auth_cache(),
            inoperative=self.store.inoperative_connectors(),
        )
        self.station.take()
        self.adapter.bind(self)
        self.now = T0
        self.energy = {1: 1000.0, 2: 5000.0}
        self.resets: list[bool] = []

    async def feed(self, event):
        result = event(self.now)
        self._settle()
        return result

    def _settle(self) -> None:
        while decisions := self.station.take():
            for d in decisions:
                if isinstance(d, OfferCurrent):
                    c = self.station.connectors[d.connector]
                    if d.amps > 0 and c.pilot is PilotState.B:  # the EV starts drawing
                        self.station.hardware_event(
                            PilotChanged(d.connector, PilotState.C), self.now
                        )
                else:
                    self.adapter.on_decision(d)
        self.adapter.flush_status()

    def lock_result(self, connector: int) -> bool:
        return True

    def request_reset(self, hard: bool) -> None:
        self.resets.append(hard)

    # --- driving it

    async def event(self, event: Any) -> None:
        def apply(now: float) -> None:
            self.station.hardware_event(event, now)
            c = self.station.connectors.get(getattr(event, "connector", None) or 0)
            if isinstance(event, PilotChanged) and event.state is PilotState.B and c:
                if c.offered_a:  # current is offered already: the EV draws at once
                    self.station.hardware_event(PilotChanged(c.id, PilotState.C), now)

        await self.feed(apply)

    async def meter(self, connector: int = 1, wh: float = 0) -> None:
        self.energy[connector] += wh
        reading = MeterReading(self.energy[connector], power_w=7000.0)
        await self.feed(lambda now: self.station.meter_read(connector, reading, now))

    async def tick(self, seconds: float, connector: int = 1) -> None:
        """Let time pass a second at a time, the meter running."""
        for _ in range(int(seconds)):
            self.now += 1
            await self.meter(connector, 2)
            await self.feed(self.station.tick)

    async def start(self, connector: int = 1, tag: str = "TAG1") -> str:
        await self.meter(connector)
        await self.event(PilotChanged(connector, PilotState.B))
        await self.event(TagPresented(tag, connector))
        info = AuthInfo(AuthStatus.Accepted)
        await self.feed(lambda now: self.station.authorization_answered(tag, info, now))
        tx = self.station.connectors[connector].transaction
        assert tx is not None
        return tx.id

    def close(self) -> None:
        for task in self.adapter._tasks:
            task.cancel()
        self.store.close()


def events(store: Store, tx_id: str | None = None) -> list[dict[str, Any]]:
    """TransactionEvent payloads waiting in the outbox, in delivery order."""
    store.flush_confirmed()  # confirmed events leave the table with the next commit
    rows = store.db.execute(
        "SELECT payload, tx_id FROM outbox WHERE action='TransactionEvent' ORDER BY seq"
    ).fetchall()
    return [json.loads(p) for p, tx in rows if tx_id is None or tx == tx_id]


def seq_nos(store: Store, tx_id: str) -> list[int]:
    return [e["seqNo"] for e in events(store, tx_id)]


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
async def rt(config: Config):
    runtime = Runtime(config)
    yield runtime
    runtime.close()


def online(rt: Runtime, value: bool = True) -> None:
    rt.adapter._link_changed(value)


async def test_session_events_are_numbered_from_0_without_gaps_in_order(rt: Runtime):
    online(rt)
    tx_id = await rt.start()
    await rt.tick(25)
    await rt.feed(lambda now: rt.station.tag_presented("TAG1", None, now))
    got = events(rt.store, tx_id)
    assert [e["seqNo"] for e in got] == list(range(len(got)))
    assert [(e["eventType"], e["triggerReason"]) for e in got] == [
        ("Started", "Authorized"),
        ("Updated", "ChargingStateChanged"),
        ("Updated", "MeterValuePeriodic"),
        ("Updated", "MeterValuePeriodic"),
        ("Ended", "StopAuthorized"),
    ]
    assert all("offline" not in e for e in got)
    for e in got:
        check_payload(OCPP201, "TransactionEvent", e, response=False)
    ended = got[-1]
    contexts = [mv["sampledValue"][0]["context"] for mv in ended["meterValue"]]
    # Begin, the sample kept at TxEndedInterval (20 s), End
    assert contexts == ["Transaction.Begin", "Sample.Periodic", "Transaction.End"]
    energy = [mv["sampledValue"][0]["value"] for mv in ended["meterValue"]]
    assert energy == sorted(energy) and energy[0] == 1000


async def test_events_while_offline_are_flagged_and_keep_their_order(rt: Runtime):
    online(rt)
    tx_id = await rt.start()
    await rt.tick(10)
    online(rt, False)  # the link drops
    await rt.tick(20)
    online(rt, True)  # back
    await rt.tick(10)
    got = events(rt.store, tx_id)
    assert [e["seqNo"] for e in got] == list(range(len(got)))
    periodic = [e for e in got if e["triggerReason"] == "MeterValuePeriodic"]
    assert [e.get("offline", False) for e in periodic] == [False, True, True, False]
    stamps = [e["timestamp"] for e in got]
    assert stamps == sorted(stamps)


async def test_a_transaction_started_offline_is_offline_from_its_first_event(rt: Runtime):
    tx_id = await rt.start()
    (started, charging) = events(rt.store, tx_id)
    assert started["offline"] is True and charging["offline"] is True


async def test_seq_no_continues_after_a_restart_and_ends_with_power_loss(config: Config):
    first = Runtime(config)
    online(first)
    tx_id = await first.start()
    await first.tick(10)
    before = seq_nos(first.store, tx_id)
    first.close()  # kill -9: nothing more is written

    second = Runtime(config)
    try:
        (tx,) = second.store.open_transactions()
        await second.feed(lambda now: second.station.end_interrupted(tx, StopReason.PowerLoss, now))
        ended = events(second.store, tx_id)[-1]
        assert ended["eventType"] == "Ended"
        assert ended["transactionInfo"]["stoppedReason"] == "PowerLoss"
        assert ended["seqNo"] == before[-1] + 1
        assert seq_nos(second.store, tx_id) == list(range(len(before) + 1))
    finally:
        second.close()


async def test_delivered_events_are_gone_but_numbering_goes_on(rt: Runtime):
    online(rt)
    tx_id = await rt.start()
    for message in _outbox(rt.store):
        rt.adapter._delivered(message, {})  # the CSMS confirmed everything so far
    assert events(rt.store, tx_id) == []
    await rt.tick(10)
    assert seq_nos(rt.store, tx_id) == [2]


async def send_local_list(rt: Runtime, entry: dict[str, Any]) -> dict[str, Any]:
    """A full list of one entry, as the CSMS installs it (SendLocalList)."""
    request = {"versionNumber": 1, "updateType": "Full", "localAuthorizationList": [entry]}
    return await rt.adapter._handle("SendLocalList", request)


def _outbox(store: Store):
    while (head := store.outbox_head()) is not None:
        yield head


async def test_power_cut_between_queueing_and_numbering_is_repaired(config: Config):
    """An event in the outbox whose number was not taken yet: repair takes it, so the
    next event neither repeats it nor leaves a gap."""
    first = Runtime(config)
    tx_id = await first.start()
    seq = SeqNumbers(first.store)
    queued = seq.peek(tx_id)
    first.store.enqueue("TransactionEvent", {"seqNo": queued, "eventType": "Updated"}, tx_id, T0)
    first.close()  # the power goes before seq.commit

    second = Runtime(config)
    try:
        assert SeqNumbers(second.store).peek(tx_id) == queued + 1
        (tx,) = second.store.open_transactions()
        await second.feed(lambda now: second.station.end_interrupted(tx, StopReason.Reboot, now))
        assert seq_nos(second.store, tx_id) == list(range(queued + 2))
    finally:
        second.close()


async def test_started_queued_but_not_numbered_is_repaired(config: Config, tmp_path: Path):
    first = Runtime(config)
    tx_id = await first.start()
    # undo the numbering of everything: as if the power went right after the first write
    first.store.db.execute("UPDATE transactions SET seq_no=0 WHERE id=?", (tx_id,))
    first.close()
    second = Runtime(config)
    try:
        assert SeqNumbers(second.store).peek(tx_id) == len(seq_nos(second.store, tx_id))
    finally:
        second.close()


async def test_charging_state_changes_and_ev_leaving_with_the_transaction_going_on(
    tmp_path: Path,
):
    config = make_config(
        tmp_path, {"TxCtrlr": {"StopTxOnEVSideDisconnect": False, "TxStopPoint": "Authorized"}}
    )
    rt = Runtime(config)
    try:
        online(rt)
        tx_id = await rt.start()
        await rt.feed(lambda now: rt.station.hardware_event(PilotChanged(1, PilotState.B), now))
        await rt.event(PilotChanged(1, PilotState.A))  # the EV paused, then left
        await rt.event(PilotChanged(1, PilotState.B))  # ... and comes back (and draws)
        got = events(rt.store, tx_id)
        states = [(e["triggerReason"], e["transactionInfo"].get("chargingState")) for e in got]
        assert states == [
            ("Authorized", "EVConnected"),
            ("ChargingStateChanged", "Charging"),
            ("ChargingStateChanged", "SuspendedEV"),
            ("EVCommunicationLost", "Idle"),
            ("CablePluggedIn", "Charging"),
        ]
        assert rt.station.connectors[1].transaction is not None
    finally:
        rt.close()


async def test_cable_plugged_in_last_and_remote_start(rt: Runtime):
    online(rt)
    rt.adapter.authorizer.token_types["remote7"] = "Central"
    await rt.feed(lambda now: rt.station.remote_start("REMOTE7", 2, now, remote_start_id=42))
    await rt.feed(
        lambda now: rt.station.authorization_answered("REMOTE7", AuthInfo(AuthStatus.Accepted), now)
    )
    await rt.event(PilotChanged(2, PilotState.B))
    (started, *_) = events(rt.store)
    assert started["triggerReason"] == "CablePluggedIn"
    assert started["transactionInfo"]["remoteStartId"] == 42
    assert started["idToken"] == {"idToken": "REMOTE7", "type": "Central"}
    assert started["evse"] == {"id": 2, "connectorId": 1}


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("GroundFailure", "GroundFault"),
        ("OverCurrentFailure", "OvercurrentFault"),
        ("HighTemperature", "Other"),
    ],
)
async def test_a_fault_ends_the_transaction_with_its_reason(rt: Runtime, code: str, reason: str):
    online(rt)
    tx_id = await rt.start()
    await rt.event(FaultRaised(1, code, "test"))  # type: ignore[arg-type]
    ended = events(rt.store, tx_id)[-1]
    assert ended["eventType"] == "Ended"
    assert ended["transactionInfo"]["stoppedReason"] == reason
    assert ended["triggerReason"] == "AbnormalCondition"


@pytest.mark.parametrize(
    ("stop", "reason", "trigger"),
    [
        (StopReason.Remote, "Remote", "RemoteStop"),
        (StopReason.SoftReset, "ImmediateReset", "ResetCommand"),
        (StopReason.HardReset, "ImmediateReset", "ResetCommand"),
        (StopReason.Reboot, "Reboot", "AbnormalCondition"),
        (StopReason.DeAuthorized, "DeAuthorized", "Deauthorized"),
        (StopReason.UnlockCommand, "Other", "UnlockCommand"),
        (StopReason.EVDisconnected, "EVDisconnected", "EVCommunicationLost"),
    ],
)
async def test_stop_reasons(rt: Runtime, stop: StopReason, reason: str, trigger: str):
    online(rt)
    tx_id = await rt.start()
    c = rt.station.connectors[1]
    await rt.feed(lambda now: rt.station._stop(c, stop, now))
    ended = events(rt.store, tx_id)[-1]
    assert (ended["transactionInfo"]["stoppedReason"], ended["triggerReason"]) == (
        reason,
        trigger,
    )
    check_payload(OCPP201, "TransactionEvent", ended, response=False)


async def test_two_transactions_number_independently(rt: Runtime):
    online(rt)
    first = await rt.start(1, "A")
    second = await rt.start(2, "B")
    await rt.tick(10, connector=1)
    await rt.tick(10, connector=2)
    for tx_id in (first, second):
        assert seq_nos(rt.store, tx_id) == list(range(len(seq_nos(rt.store, tx_id))))
    assert events(rt.store)[0]["transactionInfo"]["transactionId"] == first


async def test_local_list_authorizes_offline_and_its_type_travels(rt: Runtime):
    entry = {
        "idToken": {"idToken": "CARD9", "type": "ISO15693"},
        "idTokenInfo": {"status": "Accepted"},
    }
    assert (await send_local_list(rt, entry))["status"] == "Accepted"
    await rt.meter(1)
    await rt.event(PilotChanged(1, PilotState.B))
    await rt.event(TagPresented("card9", 1))  # offline: the core asks the adapter
    await _settle_tasks(rt)
    tx = rt.station.connectors[1].transaction
    assert tx is not None
    (started, *_) = events(rt.store, tx.id)
    assert started["idToken"]["type"] == "ISO15693" and started["offline"] is True


async def test_offline_unknown_tag_is_refused_unless_allowed(rt: Runtime):
    await rt.meter(1)
    await rt.event(PilotChanged(1, PilotState.B))
    await rt.event(TagPresented("STRANGER", 1))
    await _settle_tasks(rt)
    assert rt.station.connectors[1].transaction is None
    var = rt.adapter.dm.find("AuthCtrlr", "OfflineTxForUnknownIdEnabled")
    rt.adapter.dm.put(var, True)
    rt.adapter.variables_changed([var], "test")
    await rt.event(TagPresented("STRANGER", 1))
    await _settle_tasks(rt)
    assert rt.station.connectors[1].transaction is not None


async def _settle_tasks(rt: Runtime) -> None:
    import asyncio

    for _ in range(5):
        await asyncio.sleep(0)
    while rt.adapter._tasks:
        await asyncio.gather(*rt.adapter._tasks)


async def test_online_pre_authorization_from_the_local_list_asks_no_one(tmp_path: Path):
    config = make_config(
        tmp_path, {"AuthCtrlr": {"LocalPreAuthorize": True, "LocalAuthorizeOffline": False}}
    )
    rt = Runtime(config)
    try:
        online(rt)
        entry = {
            "idToken": {"idToken": "FLEET1", "type": "KeyCode"},
            "idTokenInfo": {"status": "Accepted"},
        }
        assert (await send_local_list(rt, entry))["status"] == "Accepted"
        await rt.meter(1)
        await rt.event(PilotChanged(1, PilotState.B))
        await rt.event(TagPresented("FLEET1", 1))
        await _settle_tasks(rt)
        tx = rt.station.connectors[1].transaction
        assert tx is not None  # no CSMS to ask here: the list decided
        (started, *_) = events(rt.store, tx.id)
        assert started["idToken"] == {"idToken": "FLEET1", "type": "KeyCode"}
        # a tag not on the list must be asked about; with no answer and no offline
        # authorization from the list/cache it is refused
        await rt.event(PilotChanged(2, PilotState.B))
        await rt.event(TagPresented("OTHER", 2))
        await _settle_tasks(rt)
        assert rt.station.connectors[2].transaction is None
    finally:
        rt.close()


# --- the 2.0.1 CSMS's own checks (the e2e tests rely on them) ----------------------------------


async def test_csms201_flags_seq_no_gaps_repeats_and_unknown_transactions():
    from websockets.asyncio.client import connect

    from devcsms import Csms201

    csms = Csms201()
    await csms.start()
    try:
        async with connect(f"{csms.url}/RAW", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
            n = 0

            async def call(action: str, payload: dict) -> list:
                nonlocal n
                n += 1
                await ws.send(json.dumps([2, f"m{n}", action, payload]))
                return json.loads(await ws.recv())

            boot = {"reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": "v"}}
            assert (await call("BootNotification", boot))[0] == 3

            def event(kind: str, seq_no: int, tx: str = "tx-1", **extra: Any) -> dict:
                return {
                    "eventType": kind,
                    "timestamp": "2025-01-01T10:00:00Z",
                    "triggerReason": "Authorized",
                    "seqNo": seq_no,
                    "transactionInfo": {"transactionId": tx},
                    **extra,
                }

            evse = {"evse": {"id": 1, "connectorId": 1}}
            await call("TransactionEvent", event("Started", 0, **evse))
            await call("TransactionEvent", event("Updated", 1))
            assert csms.ledger.violations == []
            await call("TransactionEvent", event("Updated", 3))  # 2 is missing
            await call("TransactionEvent", event("Updated", 1))  # the same again
            await call("TransactionEvent", event("Ended", 1))  # another event, same number
            await call("TransactionEvent", event("Updated", 0, tx="tx-9"))  # never started
            await call("TransactionEvent", event("Started", 0, tx="tx-2"))  # no evse
            await call("TransactionEvent", event("Ended", 4))
            await call("TransactionEvent", event("Updated", 5))  # after Ended
    finally:
        await csms.stop()
    text = "\n".join(csms.ledger.violations)
    assert "seqNo 3 where 2 was next" in text
    assert "seqNo 1 sent twice" in text
    assert "seqNo 1 reused for a different event" in text
    assert "of unknown tx tx-9" in text
    assert "Started tx-2 without evse" in text
    assert "Updated seqNo 5 after Ended" in text
    tx = csms.ledger.transactions["tx-1"]
    assert tx.ended and tx.stopped_reason == "Local"


async def test_clock_aligned_values_update_and_are_kept_for_ended(tmp_path: Path):
    ocpp = {
        "SampledDataCtrlr": {"TxUpdatedInterval": 0},
        "AlignedDataCtrlr": {
            "Interval": 10,
            "TxEndedInterval": 20,
            "TxEndedMeasurands": "Energy.Active.Import.Register",
        },
    }
    rt = Runtime(make_config(tmp_path, ocpp))
    try:
        online(rt)
        tx_id = await rt.start()
        await rt.tick(41)
        await rt.feed(lambda now: rt.station.tag_presented("TAG1", None, now))
        got = events(rt.store, tx_id)
        clock = [e for e in got if e["triggerReason"] == "MeterValueClock"]
        assert len(clock) == 4  # at T0+10, +20, +30, +40
        assert all(
            e["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Clock" for e in clock
        )
        assert not any(e["triggerReason"] == "MeterValuePeriodic" for e in got)
        contexts = [mv["sampledValue"][0]["context"] for mv in got[-1]["meterValue"]]
        assert contexts == ["Transaction.Begin", "Sample.Clock", "Sample.Clock", "Transaction.End"]
        assert [e["seqNo"] for e in got] == list(range(len(got)))
    finally:
        rt.close()
