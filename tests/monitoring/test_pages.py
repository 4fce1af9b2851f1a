"""The paged reports of monitors (NotifyMonitoringReport) and of a customer
(NotifyCustomerInformation)."""

from __future__ import annotations

from chargerd.monitoring.monitors import DELTA, UPPER, Monitor
from chargerd.ocpp201 import customer, monitoring


def test_customer_data_is_cut_into_pages_of_at_most_512_characters():
    lines = [f"line {n}: " + "x" * 100 for n in range(12)]
    pages = customer.report_pages(5, lines, 0.0)
    assert all(len(p["data"]) <= customer.DATA_SIZE for p in pages)
    assert [p["seqNo"] for p in pages] == list(range(len(pages)))
    assert [p["tbc"] for p in pages] == [True] * (len(pages) - 1) + [False]
    assert "\n".join(p["data"] for p in pages).split("\n") == lines  # no line lost or split


def test_a_line_longer_than_a_page_is_split():
    pages = customer.report_pages(1, ["y" * 1100], 0.0)
    assert [len(p["data"]) for p in pages] == [512, 512, 76]


def test_monitor_report_groups_monitors_of_one_variable_within_a_page():
    evse = {"name": "EVSE", "evse": {"id": 1}}
    ms = [
        Monitor(
            1000 + n,
            "EVSE/1.Power",
            evse,
            {"name": "Power"},
            UPPER if n % 2 else DELTA,
            1000.0 * n,
            n % 10,
        )  # fmt: skip
        for n in range(13)
    ]
    pages = monitoring.report_pages(3, ms, 0.0)
    assert [len(p["monitor"]) for p in pages] == [1, 1]  # one variable per page
    sizes = [len(p["monitor"][0]["variableMonitoring"]) for p in pages]
    assert sizes == [monitoring.MONITORS_PER_PAGE, 13 - monitoring.MONITORS_PER_PAGE]
    assert [p["tbc"] for p in pages] == [True, False]
