"""OCPP 1.6 Local Auth List Management: SendLocalList, GetLocalListVersion, the keys, and
the list at work (offline under LocalAuthorizeOffline, online under LocalPreAuthorize)."""

from __future__ import annotations

from typing import Any

from devcsms import Csms

from .conftest import STATION_ID, Station, calls, wait_call


def entry(tag: str, status: str | None = "Accepted", **info: Any) -> dict[str, Any]:
    if status is None:  # a Differential removal
        return {"idTag": tag}
    return {"idTag": tag, "idTagInfo": {"status": status, **info}}


async def send_list(csms: Csms, version: int, update: str, *entries: dict) -> str:
    payload: dict[str, Any] = {"listVersion": version, "updateType": update}
    if entries:
        payload["localAuthorizationList"] = list(entries)
    return (await csms.call(STATION_ID, "SendLocalList", payload))["status"]


async def list_version(csms: Csms) -> int:
    return (await csms.call(STATION_ID, "GetLocalListVersion", {}))["listVersion"]


async def keys(csms: Csms, *names: str) -> dict[str, str]:
    answer = await csms.call(STATION_ID, "GetConfiguration", {"key": list(names)})
    return {k["key"]: k["value"] for k in answer["configurationKey"]}


async def test_full_then_differential_updates_and_version_numbers(csms: Csms, station: Station):
    await station.start()
    assert await list_version(csms) == 0  # empty
    assert await send_list(csms, 1, "Full", entry("A"), entry("B", "Blocked")) == "Accepted"
    assert await list_version(csms) == 1
    assert await send_list(csms, 1, "Differential", entry("C")) == "VersionMismatch"
    assert await send_list(csms, 2, "Differential", entry("B", None), entry("C")) == "Accepted"
    assert await list_version(csms) == 2
    assert await send_list(csms, 3, "Full") == "Accepted"  # an empty full list clears it
    assert await list_version(csms) == 0


async def test_keys_and_feature_profiles(csms: Csms, station: Station):
    await station.start()
    names = ("LocalAuthListEnabled", "LocalAuthListMaxLength", "SendLocalListMaxLength")
    found = await keys(csms, *names, "SupportedFeatureProfiles")
    assert found["LocalAuthListEnabled"] == "true"
    assert int(found["LocalAuthListMaxLength"]) >= int(found["SendLocalListMaxLength"]) > 0
    profiles = found["SupportedFeatureProfiles"].split(",")
    assert {"Core", "LocalAuthListManagement", "RemoteTrigger"} <= set(profiles)


async def test_a_list_longer_than_send_local_list_max_length_fails(csms: Csms, station: Station):
    await station.start()
    limit = int((await keys(csms, "SendLocalListMaxLength"))["SendLocalListMaxLength"])
    assert await send_list(csms, 1, "Full", entry("A")) == "Accepted"
    too_many = [entry(f"T{n}") for n in range(limit + 1)]
    assert await send_list(csms, 2, "Full", *too_many) == "Failed"
    assert await list_version(csms) == 1
    assert await send_list(csms, 2, "Full", *too_many[:limit]) == "Accepted"


async def test_disabled_list_is_not_supported(csms: Csms, station: Station):
    await station.start()
    change = {"key": "LocalAuthListEnabled", "value": "false"}
    assert (await csms.call(STATION_ID, "ChangeConfiguration", change))["status"] == "Accepted"
    assert await list_version(csms) == -1
    assert await send_list(csms, 1, "Full", entry("A")) == "NotSupported"


async def test_the_list_survives_a_restart_and_decides_offline(csms: Csms, station: Station):
    await station.start()
    assert await send_list(csms, 7, "Full", entry("LISTED"), entry("BARRED", "Blocked")) == (
        "Accepted"
    )
    await station.restart()
    assert await list_version(csms) == 7
    await csms.stop()
    await station.wait_link(connected=False)
    await station.sim("plug", "1")
    await station.sim("tag", "BARRED", "--connector", "1")
    assert (await station.connector(1))["transaction"] is None
    await station.sim("tag", "LISTED", "--connector", "1")
    await station.wait_status(1, "Charging")
    mark = len(csms.ledger.entries)
    await csms.start()
    await wait_call(csms, "StartTransaction", after=mark, idTag="LISTED")
    assert calls(csms, "Authorize", mark) == []


async def test_online_local_pre_authorize_starts_a_listed_tag_without_authorize(
    csms: Csms, station: Station
):
    station.ocpp["LocalPreAuthorize"] = True
    station.ocpp["AuthorizationCacheEnabled"] = False  # the list alone knows the tag
    mark = await station.start()
    assert await send_list(csms, 1, "Full", entry("LISTED")) == "Accepted"
    await station.start_session(1, "LISTED")
    assert calls(csms, "Authorize", mark) == []
