"""OCPP 2.0.1 C16 master pass and C09 group stop through the local list: the real daemon
against the strict 2.0.1 CSMS."""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from devcsms import Csms201
from devcsms.v201 import Session201

from .conftest import STATION_ID, calls
from .conftest201 import Station201, csms, station, wait_tx_event

__all__ = ["csms", "station"]  # the 2.0.1 fixtures, not conftest.py's 1.6 ones

MASTER = "MASTER-PASS"
GROUPS = {"BOSS": MASTER}  # id token -> groupIdToken in the CSMS's Authorize answers


class MasterSession(Session201):
    """The dev CSMS's 2.0.1 session, answering Authorize with the token's groupIdToken."""

    @on(Action.authorize)
    def on_authorize(self, **_: Any) -> call_result.Authorize:
        token = self.payload["idToken"]["idToken"]
        info: dict[str, Any] = {"status": self.csms.id_tag_status(token)}
        if token in GROUPS:
            info["groupIdToken"] = {"idToken": GROUPS[token], "type": "Central"}
        return call_result.Authorize(id_token_info=info)


async def set_master_pass_group(csms: Csms201, group: str) -> None:
    data = {
        "component": {"name": "AuthCtrlr"},
        "variable": {"name": "MasterPassGroupId"},
        "attributeValue": group,
    }
    answer = await csms.call(STATION_ID, "SetVariables", {"setVariableData": [data]})
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"


async def test_a_master_pass_stops_every_transaction(csms: Csms201, station: Station201):
    csms.protocols["ocpp2.0.1"] = MasterSession
    await station.start()
    await set_master_pass_group(csms, MASTER)
    first = await station.start_session(1, "CARD-A")
    second = await station.start_session(2, "CARD-B")
    mark = len(csms.ledger.entries)
    await station.sim("tag", "BOSS")
    for tx_id in (first, second):
        ended = await wait_tx_event(csms, "Ended", after=mark, transactionId=tx_id)
        assert ended.payload["transactionInfo"]["stoppedReason"] == "MasterPass"
        assert ended.payload["triggerReason"] == "StopAuthorized"
        assert ended.payload["idToken"]["idToken"] == "BOSS"


async def test_a_master_pass_starts_no_transaction(csms: Csms201, station: Station201):
    csms.protocols["ocpp2.0.1"] = MasterSession
    await station.start()
    await set_master_pass_group(csms, MASTER)
    mark = len(csms.ledger.entries)
    await station.sim("plug", "1")
    await station.sim("tag", "BOSS", "--connector", "1")  # returns with the card's outcome
    assert (await station.connector(1))["transaction"] is None
    assert calls(csms, "TransactionEvent", mark) == []
    assert "master pass" in station.log()


async def test_a_listed_card_of_the_same_group_stops_the_session_without_asking(
    csms: Csms201, station: Station201
):
    """C09 with the groupIdTokens from the local list, under LocalPreAuthorize."""
    station.set_ocpp("AuthCtrlr", "LocalPreAuthorize", True)
    await station.start()
    group = {"idToken": "FLEET-9", "type": "Central"}
    entries = [
        {
            "idToken": {"idToken": tag, "type": "ISO14443"},
            "idTokenInfo": {"status": "Accepted", "groupIdToken": group},
        }
        for tag in ("DRIVER", "COLLEAGUE")
    ]
    sent = await csms.call(
        STATION_ID,
        "SendLocalList",
        {"versionNumber": 1, "updateType": "Full", "localAuthorizationList": entries},
    )
    assert sent == {"status": "Accepted"}
    mark = len(csms.ledger.entries)
    tx_id = await station.start_session(1, "DRIVER")
    await station.sim("tag", "COLLEAGUE")
    ended = await wait_tx_event(csms, "Ended", after=mark, transactionId=tx_id)
    assert ended.payload["transactionInfo"]["stoppedReason"] == "Local"
    assert ended.payload["idToken"]["idToken"] == "COLLEAGUE"
    assert calls(csms, "Authorize", mark) == []
