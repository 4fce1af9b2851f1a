"""Security events: queued for the CSMS (persisted, bounded) and written to security.log."""

from __future__ import annotations

import pytest

from chargerd.security.events import SecurityEvents, SecurityLog
from chargerd.store import Store


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path)
    yield s
    s.close()


def queued(store):
    rows = store.db.execute(
        "SELECT payload FROM outbox WHERE action='SecurityEventNotification' ORDER BY seq"
    ).fetchall()
    import json

    return [json.loads(p) for (p,) in rows]


def test_an_event_is_queued_with_the_time_it_happened_and_logged(store, tmp_path):
    woken = []
    events = SecurityEvents(store, tmp_path, "2.0.1", wake=lambda: woken.append(1))
    events.record("TamperDetectionActivated", "tamper switch", now=1_700_000_000.25)
    assert queued(store) == [{"type": "TamperDetectionActivated",
                              "timestamp": "2023-11-14T22:13:20.250Z",
                              "techInfo": "tamper switch"}]  # fmt: skip
    assert woken == [1]
    assert events.log_path == tmp_path / "security.log"
    assert events.log.lines() == ["2023-11-14T22:13:20.250Z TamperDetectionActivated tamper switch"]


def test_queued_events_survive_a_restart(tmp_path):
    s = Store(tmp_path)
    SecurityEvents(s, tmp_path).record("StartupOfTheDevice", "")
    s.close()
    s = Store(tmp_path)
    assert [e["type"] for e in queued(s)] == ["StartupOfTheDevice"]
    assert "techInfo" not in queued(s)[0]
    s.close()


def test_on_16_the_whitepapers_names_are_used(store, tmp_path):
    events = SecurityEvents(store, tmp_path, "1.6")
    events.record("InvalidCsmsCertificate", "x")
    events.record("InvalidChargingStationCertificate", "y")
    assert [e["type"] for e in queued(store)] == [
        "InvalidCentralSystemCertificate", "InvalidChargePointCertificate"]  # fmt: skip


def test_tech_info_is_cut_to_255_characters(store, tmp_path):
    SecurityEvents(store, tmp_path).record("InvalidMessages", "x" * 400)
    assert len(queued(store)[0]["techInfo"]) == 255


def test_the_queue_is_bounded_dropping_the_oldest_non_critical_first(store, tmp_path):
    events = SecurityEvents(store, tmp_path, max_queued=3)
    events.record("StartupOfTheDevice", "head")  # the head may be on the wire: kept
    events.record("ResetOrReboot", "critical")
    events.record("InvalidMessages", "first plain")
    events.record("InvalidMessages", "second plain")
    events.record("InvalidMessages", "third plain")
    events.record("InvalidMessages", "fourth plain")
    infos = [e["techInfo"] for e in queued(store)]
    assert infos == ["head", "critical", "third plain", "fourth plain"]
    assert len(events.log.lines()) == 6  # the log keeps them all


def test_the_log_rotates_into_one_older_file(tmp_path):
    log = SecurityLog(tmp_path, max_bytes=100)
    for i in range(30):
        log.append(f"line {i:02d} " + "x" * 20)
    lines = log.lines()
    assert lines[-1].startswith("line 29")
    assert 3 <= len(lines) <= 8  # two files of at most 100 bytes each
    assert sum(p.stat().st_size for p in tmp_path.glob("security.log*")) <= 200
