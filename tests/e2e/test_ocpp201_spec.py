"""OCPP 2.0.1 rules an independent test suite checked: the real daemon against the strict
2.0.1 CSMS (GetReport B08, SendLocalList D01.FR.18, DisableRemoteAuthorization, stopping
with a token of the starting token's group C09/E07)."""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from devcsms import Csms201
from devcsms.v201 import Session201

from .conftest import STATION_ID, calls, wait_until
from .conftest201 import Station201, csms, station, wait_tx_event

__all__ = ["csms", "station"]  # the 2.0.1 fixtures, not conftest.py's 1.6 ones

GROUPS = {"CARD-A": "FLEET-7", "CARD-B": "FLEET-7"}  # id token -> groupIdToken


class GroupSession(Session201):
    """The dev CSMS's 2.0.1 session, answering Authorize with the token's groupIdToken."""

    @on(Action.authorize)
    def on_authorize(self, **_: Any) -> call_result.Authorize:
        token = self.payload["idToken"]["idToken"]
        info: dict[str, Any] = {"status": self.csms.id_tag_status(token)}
        if token in GROUPS:
            info["groupIdToken"] = {"idToken": GROUPS[token], "type": "Central"}
        return call_result.Authorize(id_token_info=info)


async def report(csms: Csms201, request_id: int, **request: Any) -> list[dict]:
    """The reportData of a GetReport the station accepted, once the last page is in."""
    await wait_until(
        lambda: csms.ledger.reports.get(request_id, [{"tbc": True}])[-1].get("tbc") is False,
        f"the last NotifyReport page of request {request_id}",
    )
    return csms.ledger.report(request_id)


EVSE1_AVAILABILITY = [
    {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "AvailabilityState"}}
]


async def test_get_report_by_criteria_and_component_variables(csms: Csms201, station: Station201):
    """TC_B_18: no EVSE has a Problem (EmptyResultSet); EVSE 1 is Available (its variable)."""
    await station.start()
    problem = await csms.call(
        STATION_ID,
        "GetReport",
        {"requestId": 1, "componentCriteria": ["Problem"], "componentVariable": EVSE1_AVAILABILITY},
    )
    assert problem == {"status": "EmptyResultSet"}
    available = await csms.call(
        STATION_ID,
        "GetReport",
        {
            "requestId": 2,
            "componentCriteria": ["Available"],
            "componentVariable": EVSE1_AVAILABILITY,
        },
    )
    assert available == {"status": "Accepted"}
    (entry,) = await report(csms, 2)
    assert entry["component"] == {"name": "EVSE", "evse": {"id": 1}}
    assert entry["variable"] == {"name": "AvailabilityState"}
    assert entry["variableAttribute"][0]["value"] == "Available"


async def test_get_report_of_a_component_lists_all_its_variables(
    csms: Csms201, station: Station201
):
    await station.start()
    answer = await csms.call(
        STATION_ID,
        "GetReport",
        {"requestId": 3, "componentVariable": [{"component": {"name": "AuthCtrlr"}}]},
    )
    assert answer == {"status": "Accepted"}
    data = await report(csms, 3)
    names = {d["variable"]["name"] for d in data}
    assert {"AuthorizeRemoteStart", "LocalPreAuthorize", "DisableRemoteAuthorization"} <= names
    assert {d["component"]["name"] for d in data} == {"AuthCtrlr"}
    master = next(d for d in data if d["variable"]["name"] == "MasterPassGroupId")
    assert master["variableAttribute"][0]["mutability"] == "ReadWrite"  # C16


async def test_get_report_problem_criterion_finds_the_faulted_connector(
    csms: Csms201, station: Station201
):
    await station.start()
    await station.sim("fault", "2", "GroundFailure")
    await station.wait_status(2, "Faulted")
    answer = await csms.call(
        STATION_ID,
        "GetReport",
        {
            "requestId": 4,
            "componentCriteria": ["Problem"],
            "componentVariable": [
                {"component": {"name": "Connector"}, "variable": {"name": "Problem"}}
            ],
        },
    )
    assert answer == {"status": "Accepted"}
    (entry,) = await report(csms, 4)
    assert entry["component"] == {"name": "Connector", "evse": {"id": 2, "connectorId": 1}}
    assert entry["variableAttribute"][0]["value"] == "true"


async def test_send_local_list_version_0_fails_and_changes_nothing(
    csms: Csms201, station: Station201
):
    """D01.FR.18: versionNumber SHALL be greater than 0 (0 means "no list installed")."""
    await station.start()
    entry = {
        "idToken": {"idToken": "LISTED", "type": "ISO14443"},
        "idTokenInfo": {"status": "Accepted"},
    }
    answer = await csms.call(
        STATION_ID,
        "SendLocalList",
        {"versionNumber": 0, "updateType": "Full", "localAuthorizationList": [entry]},
    )
    assert answer["status"] == "Failed"
    assert await csms.call(STATION_ID, "GetLocalListVersion", {}) == {"versionNumber": 0}


async def test_disable_remote_authorization_decides_from_the_local_list_only(
    csms: Csms201, station: Station201
):
    await station.start()
    set_ = await csms.call(
        STATION_ID,
        "SetVariables",
        {
            "setVariableData": [
                {
                    "component": {"name": "AuthCtrlr"},
                    "variable": {"name": "DisableRemoteAuthorization"},
                    "attributeValue": "true",
                }
            ]
        },
    )
    assert set_["setVariableResult"][0]["attributeStatus"] == "Accepted"
    entry = {
        "idToken": {"idToken": "LISTED", "type": "ISO14443"},
        "idTokenInfo": {"status": "Accepted"},
    }
    sent = await csms.call(
        STATION_ID,
        "SendLocalList",
        {"versionNumber": 1, "updateType": "Full", "localAuthorizationList": [entry]},
    )
    assert sent == {"status": "Accepted"}
    mark = len(csms.ledger.entries)
    await station.sim("plug", "1")
    await station.sim("tag", "STRANGER", "--connector", "1")
    await station.sim("tag", "LISTED", "--connector", "1")
    await station.wait_status(1, "Charging")
    started = await wait_tx_event(csms, "Started", after=mark)
    assert started.payload["idToken"]["idToken"] == "LISTED"
    assert calls(csms, "Authorize", mark) == []


async def test_a_card_of_the_same_group_stops_the_transaction(csms: Csms201, station: Station201):
    """C09.FR.03 / E07: a different valid token whose Authorize answer carries the same
    groupIdToken as the starting token's ends the transaction (stoppedReason Local)."""
    csms.protocols["ocpp2.0.1"] = GroupSession
    await station.start()
    tx_id = await station.start_session(1, "CARD-A")
    mark = len(csms.ledger.entries)
    await station.sim("tag", "CARD-B")
    ended = await wait_tx_event(csms, "Ended", after=mark)
    assert ended.payload["transactionInfo"]["transactionId"] == tx_id
    assert ended.payload["transactionInfo"]["stoppedReason"] == "Local"
    assert ended.payload["triggerReason"] == "StopAuthorized"
    assert ended.payload["idToken"]["idToken"] == "CARD-B"
