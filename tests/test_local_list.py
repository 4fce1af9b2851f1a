"""The local authorization list in the core's rules (both OCPP versions), and its store.

The core is fed events with `now`; the list is the real `LocalList` on a real store.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from chargerd.core.model import (
    AuthInfo,
    AuthorizationRejected,
    AuthStatus,
    CoreSettings,
    RefusedBy,
    RequestAuthorization,
    StopReason,
    TransactionEnded,
    TransactionStarted,
)
from chargerd.core.station import ConnectorSpec, Station
from chargerd.local_list import ListEntry, LocalList, UpdateStatus
from chargerd.store import Store
from hal.interfaces import PilotChanged, PilotState, TagPresented

T0 = 1_700_000_000.0
ACCEPTED = AuthInfo(AuthStatus.Accepted)
BLOCKED = AuthInfo(AuthStatus.Blocked)


@pytest.fixture
def local_list(tmp_path: Path):
    store = Store(tmp_path)
    yield LocalList(store)
    store.close()


def station(
    local_list: LocalList,
    *,
    online: bool,
    cache: dict[str, AuthInfo] | None = None,
    **settings: Any,
) -> Station:
    ids = (f"tx-{n}" for n in itertools.count(1))
    s = Station(
        [ConnectorSpec(1, 32, 3), ConnectorSpec(2, 32, 3)],
        CoreSettings(**settings),
        auth_cache=cache,
        new_transaction_id=lambda: next(ids),
    )
    s.local_list = local_list.info
    s.link_changed(online)
    return s


def listed(local_list: LocalList, *entries: ListEntry, version: int = 1) -> None:
    assert local_list.update(version, True, list(entries)) is UpdateStatus.Accepted


def present(s: Station, tag: str, connector: int = 1, now: float = T0) -> list[Any]:
    s.hardware_event(PilotChanged(connector, PilotState.B), now)
    s.take()
    s.hardware_event(TagPresented(tag, connector), now)
    return s.take()


def started(decisions: list[Any]) -> bool:
    return any(isinstance(d, TransactionStarted) for d in decisions)


# --- the rules ---------------------------------------------------------------------------


def test_offline_a_listed_tag_starts_under_local_authorize_offline(local_list) -> None:
    listed(local_list, ListEntry("CARD", ACCEPTED))
    assert started(present(station(local_list, online=False), "card"))


def test_offline_the_list_is_not_used_without_local_authorize_offline(local_list) -> None:
    listed(local_list, ListEntry("CARD", ACCEPTED))
    s = station(local_list, online=False, local_authorize_offline=False)
    decisions = present(s, "CARD")
    assert not started(decisions)
    assert decisions[-1] == AuthorizationRejected("CARD", "Invalid", RefusedBy.OFFLINE_UNKNOWN)


def test_the_list_wins_over_the_cache(local_list) -> None:
    listed(local_list, ListEntry("CARD", BLOCKED))
    s = station(local_list, online=False, cache={"CARD": ACCEPTED})
    decisions = present(s, "CARD")
    assert not started(decisions)
    assert decisions[-1] == AuthorizationRejected("CARD", "Blocked", RefusedBy.OFFLINE_LIST)


def test_a_disabled_list_is_not_used(local_list) -> None:
    listed(local_list, ListEntry("CARD", BLOCKED))
    s = station(local_list, online=False, cache={"CARD": ACCEPTED}, local_auth_list_enabled=False)
    assert started(present(s, "CARD"))


def test_online_a_listed_tag_starts_at_once_under_local_pre_authorize(local_list) -> None:
    listed(local_list, ListEntry("CARD", ACCEPTED))
    s = station(local_list, online=True, local_pre_authorize=True)
    decisions = present(s, "CARD")
    assert started(decisions)
    assert not any(isinstance(d, RequestAuthorization) for d in decisions)


def test_online_without_local_pre_authorize_a_listed_tag_is_asked(local_list) -> None:
    listed(local_list, ListEntry("CARD", ACCEPTED))
    decisions = present(station(local_list, online=True), "CARD")
    assert decisions == [RequestAuthorization("CARD")]


def test_online_a_tag_the_list_refuses_is_still_asked(local_list) -> None:
    listed(local_list, ListEntry("CARD", BLOCKED))
    s = station(local_list, online=True, local_pre_authorize=True)
    assert present(s, "CARD") == [RequestAuthorization("CARD")]


def test_an_expired_list_entry_refuses_offline_as_expired(local_list) -> None:
    listed(local_list, ListEntry("CARD", AuthInfo(AuthStatus.Accepted, expires_at=T0 - 1)))
    decisions = present(station(local_list, online=False), "CARD")
    assert decisions[-1] == AuthorizationRejected("CARD", "Expired", RefusedBy.OFFLINE_LIST)


def test_a_list_entry_valid_until_later_starts(local_list) -> None:
    listed(local_list, ListEntry("CARD", AuthInfo(AuthStatus.Accepted, expires_at=T0 + 60)))
    assert started(present(station(local_list, online=False), "CARD"))


def test_no_answer_from_the_csms_falls_back_to_the_list(local_list) -> None:
    listed(local_list, ListEntry("CARD", ACCEPTED))
    s = station(local_list, online=True)
    present(s, "CARD")
    s.authorization_failed("CARD", T0 + 1)
    assert started(s.take())


def test_a_card_of_the_listed_group_stops_the_session_offline(local_list) -> None:
    """C09 / 1.6 parentIdTag: the list gives both tags' group."""
    listed(
        local_list,
        ListEntry("DRIVER", AuthInfo(AuthStatus.Accepted, parent_id="FLEET")),
        ListEntry("COLLEAGUE", AuthInfo(AuthStatus.Accepted, parent_id="fleet")),
    )
    s = station(local_list, online=False)
    assert started(present(s, "DRIVER"))
    s.hardware_event(TagPresented("COLLEAGUE", None), T0 + 5)
    ended = [d for d in s.take() if isinstance(d, TransactionEnded)]
    assert [(e.reason, e.id_tag) for e in ended] == [(StopReason.Local, "COLLEAGUE")]


# --- the master pass (2.0.1 C16) ---------------------------------------------------------


def master_station(local_list: LocalList) -> Station:
    listed(
        local_list,
        ListEntry("A", ACCEPTED),
        ListEntry("B", ACCEPTED),
        ListEntry("BOSS", AuthInfo(AuthStatus.Accepted, parent_id="MASTER")),
    )
    return station(local_list, online=False, master_pass_group="MASTER")


def test_a_master_pass_stops_every_transaction(local_list) -> None:
    s = master_station(local_list)
    assert started(present(s, "A", 1))
    assert started(present(s, "B", 2))
    s.hardware_event(TagPresented("BOSS", 1), T0 + 9)
    ended = [d for d in s.take() if isinstance(d, TransactionEnded)]
    assert sorted(e.transaction.connector for e in ended) == [1, 2]
    assert {(e.reason, e.id_tag) for e in ended} == {(StopReason.MasterPass, "BOSS")}


def test_a_master_pass_starts_no_transaction(local_list) -> None:
    s = master_station(local_list)
    decisions = present(s, "BOSS")
    assert not started(decisions)
    assert decisions[-1] == AuthorizationRejected("BOSS", "MasterPass", RefusedBy.MASTER_PASS)


def test_a_master_pass_answered_by_the_csms_stops_every_transaction(local_list) -> None:
    s = station(local_list, online=True, master_pass_group="MASTER")
    s.remote_start("A", 1, T0)
    s.authorization_answered("A", ACCEPTED, T0)
    s.hardware_event(PilotChanged(1, PilotState.B), T0)
    assert started(s.take())
    s.hardware_event(TagPresented("BOSS", None), T0 + 1)
    assert s.take() == [RequestAuthorization("BOSS")]
    s.authorization_answered("BOSS", AuthInfo(AuthStatus.Accepted, parent_id="MASTER"), T0 + 2)
    ended = [d for d in s.take() if isinstance(d, TransactionEnded)]
    assert [e.reason for e in ended] == [StopReason.MasterPass]


# --- the store -----------------------------------------------------------------------------


def test_differential_needs_a_newer_version(local_list) -> None:
    listed(local_list, ListEntry("A", ACCEPTED), version=4)
    assert local_list.update(4, False, [ListEntry("B", ACCEPTED)]) is UpdateStatus.VersionMismatch
    assert local_list.update(5, False, [ListEntry("B", ACCEPTED), ListEntry("A", None)]) == (
        UpdateStatus.Accepted
    )
    assert (local_list.version, local_list.info("a"), local_list.info("b")) == (5, None, ACCEPTED)


def test_a_list_longer_than_its_maximum_is_refused_whole(local_list) -> None:
    listed(local_list, ListEntry("A", ACCEPTED), ListEntry("B", ACCEPTED), version=1)
    more = [ListEntry("C", ACCEPTED)]
    assert local_list.update(2, False, more, max_length=2) is UpdateStatus.Failed
    assert (local_list.version, len(local_list)) == (1, 2)
    swap = [ListEntry("A", None), ListEntry("C", ACCEPTED)]
    assert local_list.update(2, False, swap, max_length=2) is UpdateStatus.Accepted


def test_a_full_list_must_say_what_each_tag_may_do(local_list) -> None:
    assert local_list.update(1, True, [ListEntry("A", None)]) is UpdateStatus.Failed
    assert local_list.version == 0
