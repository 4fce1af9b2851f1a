"""What the station answers to frames the CSMS should not have sent (OCPP-J 1.6, 4.2.3)."""

from __future__ import annotations

import pytest

from devcsms import Csms

from .conftest import STATION_ID, Station

# Every request of 1.6 and its security extension is answered now: a message only the
# station sends is the known action the station does not support.
KNOWN_UNSUPPORTED = "Heartbeat"


async def test_frame_that_is_not_json_is_dropped_and_station_keeps_serving(
    csms: Csms, station: Station
):
    await station.start()
    assert await csms.send_raw(STATION_ID, "this is {not JSON", timeout=0.3) is None
    answer = await csms.call(STATION_ID, "GetConfiguration", {"key": ["HeartbeatInterval"]})
    assert answer["configurationKey"][0]["value"] == "300"
    assert station.running
    assert [e.kind for e in csms.ledger.entries].count("connect") == 1  # same connection


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('[2,"x1","NoSuchAction",{}]', "NotImplemented"),
        (f'[2,"x2","{KNOWN_UNSUPPORTED}",{{}}]', "NotSupported"),
        (
            '[2,"x3","ChangeConfiguration",{"key":"HeartbeatInterval"}]',
            "OccurenceConstraintViolation",
        ),
        (
            '[2,"x4","ChangeConfiguration",{"key":"HeartbeatInterval","value":5}]',
            "TypeConstraintViolation",
        ),
        ('[2,"x5","Reset",{"type":"Warm"}]', "PropertyConstraintViolation"),
        ('[2,"x6","Reset"]', "ProtocolError"),
    ],
    ids=[
        "unknown-action-not-implemented",
        "known-unsupported-action-not-supported",
        "missing-field-occurrence-violation",
        "wrong-type-type-violation",
        "bad-enum-value-property-violation",
        "call-without-payload-protocol-error",
    ],
)
async def test_bad_call_is_answered_with_callerror(
    csms: Csms, station: Station, frame: str, code: str
):
    await station.start()
    unique_id = frame.split('"')[1]
    reply = await csms.send_raw(STATION_ID, frame, timeout=3)
    assert reply is not None, "no answer"
    assert reply[:3] == [4, unique_id, code], reply
    assert len(reply) == 5 and isinstance(reply[3], str) and isinstance(reply[4], dict)
    # and the station still serves
    answer = await csms.call(STATION_ID, "GetConfiguration", {"key": ["HeartbeatInterval"]})
    assert answer["configurationKey"][0]["value"] == "300"
