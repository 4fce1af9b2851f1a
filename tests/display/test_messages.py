"""What each screen shows, with time as input (chargerd/display/messages.py)."""

from __future__ import annotations

from chargerd.display.messages import (
    Board,
    DisplayMessage,
    Notice,
    Priority,
    State,
    plain_text,
    text_lines,
)

T0 = 1_800_000_000.0  # a cycle boundary (multiple of 5 s)


def msg(id: int, priority: Priority = Priority.NormalCycle, text: str = "", **kw) -> DisplayMessage:
    return DisplayMessage(id, priority, text or f"message {id}", set_at=kw.pop("set_at", id), **kw)


def board() -> Board:
    return Board((1, 2), cycle_s=5.0)


def test_a_message_for_every_screen_shows_on_the_station_and_each_connector():
    b = board()
    b.put(msg(1, text="Welcome"))
    assert b.lines(None, T0) == ["Welcome"]
    assert b.lines(1, T0) == ["Welcome"] and b.lines(2, T0) == ["Welcome"]


def test_a_message_for_an_evse_shows_only_there():
    b = board()
    b.put(msg(1, text="Out of order soon", evse=2))
    assert b.lines(1, T0) == [] and b.lines(None, T0) == []
    assert b.lines(2, T0) == ["Out of order soon"]


def test_the_newest_always_front_message_wins_over_everything():
    b = board()
    b.put(msg(1, Priority.InFront))
    b.put(msg(2, Priority.AlwaysFront, set_at=10))
    b.put(msg(3, Priority.AlwaysFront, set_at=20))
    b.notice(Notice("cost", "Cost 1.00", 1))
    for t in (T0, T0 + 5, T0 + 10):
        assert b.lines(1, t) == ["message 3"]


def test_in_front_messages_cycle_among_themselves_before_the_normal_cycle():
    b = board()
    b.put(msg(1, Priority.NormalCycle))
    b.put(msg(2, Priority.InFront))
    b.put(msg(3, Priority.InFront))
    shown = [b.lines(1, T0 + 5 * i)[0] for i in range(4)]
    assert shown == ["message 2", "message 3", "message 2", "message 3"]


def test_normal_cycle_messages_rotate_with_the_stations_notices():
    b = board()
    b.put(msg(1))
    b.put(msg(2))
    b.notice(Notice("cost", "Cost 2.50 EUR", 1))
    shown = [b.lines(1, T0 + 5 * i)[0] for i in range(3)]
    assert shown == ["Cost 2.50 EUR", "message 1", "message 2"]
    assert b.lines(2, T0) == ["message 1"]  # the cost is connector 1's


def test_a_message_shows_only_within_its_window_and_goes_when_it_ends():
    b = board()
    b.put(msg(1, start=T0 + 60, end=T0 + 120))
    assert b.lines(1, T0) == []
    assert b.lines(1, T0 + 60) == ["message 1"]
    assert b.expire(T0 + 119) == []
    assert b.expire(T0 + 120) == [1] and 1 not in b.messages


def test_a_message_limited_to_a_state_shows_only_in_that_state():
    b = board()
    b.put(msg(1, text="Charging...", state=State.Charging))
    b.put(msg(2, text="Sorry, broken", state=State.Faulted))
    b.status_changed(1, "Charging")
    b.status_changed(2, "Faulted")
    assert b.lines(1, T0) == ["Charging..."]
    assert b.lines(2, T0) == ["Sorry, broken"]
    b.status_changed(1, "Available")  # Idle now
    assert b.lines(1, T0) == []


def test_suspended_sessions_count_as_charging_and_unknown_statuses_as_idle():
    b = board()
    b.put(msg(1, state=State.Charging))
    b.put(msg(2, state=State.Idle, evse=2))
    b.status_changed(1, "SuspendedEV")
    b.status_changed(2, "Preparing")
    assert b.lines(1, T0) == ["message 1"] and b.lines(2, T0) == ["message 2"]


def test_a_transaction_bound_message_shows_on_its_connector_and_goes_with_it():
    b = board()
    b.put(msg(1, text="Thanks, Ann", transaction_id="tx-1"))
    assert b.lines(1, T0) == []  # no such transaction (yet)
    b.transaction_started(2, "tx-1")
    assert b.lines(2, T0) == ["Thanks, Ann"] and b.lines(1, T0) == []
    assert b.lines(None, T0) == []
    assert b.transaction_ended("tx-1") == [1]
    assert b.lines(2, T0) == [] and not b.messages


def test_cost_notices_of_a_transaction_go_when_it_ends_but_the_total_stays_until_its_time():
    b = board()
    b.transaction_started(1, "tx-1")
    b.notice(Notice("cost", "Cost 1.00", 1, transaction_id="tx-1"))
    b.transaction_ended("tx-1")
    assert b.lines(1, T0) == []
    b.notice(Notice("total", "Total 3.20", 1, until=T0 + 300, transaction_id="tx-1"))
    assert b.lines(1, T0 + 299) == ["Total 3.20"]
    b.expire(T0 + 300)
    assert b.lines(1, T0 + 300) == []


def test_the_next_session_takes_the_last_total_off_the_screen():
    b = board()
    b.notice(Notice("total", "Total 3.20", 1, until=T0 + 300))
    b.transaction_started(1, "tx-2")
    assert b.lines(1, T0) == []


def test_the_default_price_shows_on_free_connectors_only():
    b = board()
    b.notice(Notice("price", "0.30/kWh", None))
    b.transaction_started(1, "tx-1")
    assert b.lines(1, T0) == [] and b.lines(2, T0) == ["0.30/kWh"]
    assert b.lines(None, T0) == ["0.30/kWh"]


def test_a_tariff_waiting_for_its_session_shows_on_free_screens_only():
    b = board()
    b.transaction_started(1, "tx-1")
    b.notice(Notice("tariff", "Yours: 0.25/kWh", None, until=T0 + 120))
    assert b.lines(1, T0) == [] and b.lines(2, T0) == ["Yours: 0.25/kWh"]
    b.notice(Notice("tariff", "Mine: 0.20/kWh", 1, transaction_id="tx-1"))
    assert b.lines(1, T0) == ["Mine: 0.20/kWh"]


def test_texts_are_split_into_lines_and_html_loses_its_tags():
    assert text_lines("\nPrice\r\n0.30 EUR/kWh\n\n") == ["Price", "0.30 EUR/kWh"]
    assert plain_text("<b>Free</b> today", "HTML") == "Free today"
    assert plain_text("https://example.com/pay", "URI") == "https://example.com/pay"


def test_messages_survive_their_json_form():
    m = msg(7, Priority.InFront, state=State.Charging, start=T0, end=T0 + 1, evse=1)
    assert DisplayMessage.from_json(m.to_json()) == m
