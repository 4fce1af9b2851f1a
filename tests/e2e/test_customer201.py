"""OCPP 2.0.1 customer information (N09/N10) end to end: what the station knows of an id
token used in a session, told and forgotten on the CSMS's request."""

from __future__ import annotations

from typing import Any

from devcsms import Csms201

from .conftest import STATION_ID, wait_until
from .conftest201 import Station201, csms, station, wait_tx_event

__all__ = ["csms", "station"]  # the 2.0.1 fixtures, not conftest.py's 1.6 ones

TAG = {"idToken": "TAG1", "type": "ISO14443"}


async def customer_information(
    csms: Csms201, request_id: int, *, report: bool, clear: bool, **who: Any
) -> tuple[str, str]:
    """The answer's status and, when Accepted, the data of all NotifyCustomerInformation
    pages once the last arrived."""
    payload = {"requestId": request_id, "report": report, "clear": clear, **who}
    answer = await csms.call(STATION_ID, "CustomerInformation", payload)
    if answer["status"] != "Accepted":
        return answer["status"], ""
    pages = csms.ledger.customer_information

    def finished() -> bool:
        got = pages.get(request_id, [])
        return bool(got) and not got[-1]["tbc"]

    await wait_until(finished, f"NotifyCustomerInformation {request_id} to its last page")
    got = pages[request_id]
    assert [p["seqNo"] for p in got] == list(range(len(got)))
    return "Accepted", "\n".join(p["data"] for p in got)


async def session_with_tag(station: Station201, csms: Csms201) -> str:
    after = len(csms.ledger.entries)
    tx_id = await station.start_session(1, "TAG1")
    await station.sim("unplug", "1")
    await wait_tx_event(csms, "Ended", after=after)
    return tx_id


async def test_report_tells_what_the_station_knows_of_a_token(csms: Csms201, station: Station201):
    await station.start()
    await session_with_tag(station, csms)
    status, data = await customer_information(csms, 1, report=True, clear=False, idToken=TAG)
    assert status == "Accepted"
    assert "Authorization cache: TAG1 Accepted" in data


async def test_clear_forgets_the_token_and_says_so(csms: Csms201, station: Station201):
    await station.start()
    await session_with_tag(station, csms)
    status, data = await customer_information(csms, 1, report=True, clear=True, idToken=TAG)
    assert status == "Accepted"
    assert "Authorization cache: TAG1" in data  # what it held ...
    assert "Cleared: the authorization cache entry." in data  # ... and that it is gone
    _, after = await customer_information(csms, 2, report=True, clear=False, idToken=TAG)
    assert after == "No data about id token TAG1."
    # the cache no longer knows it: offline, the tag is not taken for a new session
    refusals = station.log().count("id token TAG1")
    await csms.stop()
    await station.wait_link(connected=False)
    await station.sim("plug", "1")
    await station.sim("tag", "TAG1")
    await wait_until(
        lambda: station.log().count("id token TAG1") > refusals, "TAG1 refused offline"
    )
    assert (await station.connector(1))["status"] != "Charging"


async def test_a_running_transaction_is_kept_when_its_token_is_cleared(
    csms: Csms201, station: Station201
):
    await station.start()
    tx_id = await station.start_session(1, "TAG1")
    _, data = await customer_information(csms, 1, report=True, clear=True, idToken=TAG)
    assert f"Transaction {tx_id} on EVSE 1" in data and "running" in data
    assert "Kept: 1 running transaction(s)" in data
    assert (await station.connector(1))["status"] == "Charging"


async def test_request_must_name_the_customer_once_and_ask_for_something(
    csms: Csms201, station: Station201
):
    await station.start()
    both = {"idToken": TAG, "customerIdentifier": "C-17"}
    assert (await customer_information(csms, 1, report=True, clear=False, **both))[0] == "Invalid"
    nothing = await customer_information(csms, 2, report=False, clear=False, idToken=TAG)
    assert nothing[0] == "Rejected"
    status, data = await customer_information(
        csms, 3, report=True, clear=False, customerIdentifier="C-17"
    )
    assert status == "Accepted" and "keeps no customer identifiers" in data
