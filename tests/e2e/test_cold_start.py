"""What keeps the cold start short (docs/PERFORMANCE.md: ≤ 0.5 s to BootNotification): the
feature blocks' OCPP message modules and the parts the start does not need stay out of it.

Each case runs tests/support/cold_start_probe.py in a fresh interpreter (sys.modules of this
test process holds whatever other tests imported): the daemon in-process, first with no CSMS
to reach, then against the dev CSMS.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PROBE = Path(__file__).resolve().parents[1] / "support" / "cold_start_probe.py"


def probe(version: str, tmp_path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(PROBE), version, str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def ocpp16(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return probe("1.6", tmp_path_factory.mktemp("cold16"))


@pytest.fixture(scope="module")
def ocpp201(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return probe("2.0.1", tmp_path_factory.mktemp("cold201"))


def test_a_station_starts_without_the_blocks_messages_nor_the_parts_it_does_not_need(
    ocpp16: dict[str, Any], ocpp201: dict[str, Any]
) -> None:
    for report in (ocpp16, ocpp201):
        assert report["at_start"] == []
        assert report["built_at_start"] is False


def test_without_a_csms_the_other_parts_are_built_a_moment_later(
    ocpp16: dict[str, Any], ocpp201: dict[str, Any]
) -> None:
    assert {"chargerd.smart.part", "chargerd.display.part"} <= set(ocpp16["parts_built"])
    assert {"chargerd.smart.part", "chargerd.monitoring.part"} <= set(ocpp201["parts_built"])
    # the messages that report what their parts do attach to them then
    assert {"chargerd.ocpp16.firmware", "chargerd.ocpp16.security"} <= set(ocpp16["parts_built"])
    assert {"chargerd.ocpp201.firmware", "chargerd.ocpp201.security"} <= set(
        ocpp201["parts_built"]
    )


def test_a_blocks_messages_are_imported_with_the_first_of_its_requests(
    ocpp16: dict[str, Any], ocpp201: dict[str, Any]
) -> None:
    assert "chargerd.ocpp16.smart" not in ocpp16["registered"]
    assert ocpp16["answers"]["SetChargingProfile"] == {"status": "Accepted"}
    assert "chargerd.ocpp16.smart" in ocpp16["after SetChargingProfile"]
    assert ocpp16["answers"]["DataTransfer"] == {"status": "Accepted"}  # costmsg (cost.py)

    assert "chargerd.ocpp201.customer" not in ocpp201["registered"]
    assert ocpp201["answers"]["CustomerInformation"]["status"] == "Accepted"
    assert "chargerd.ocpp201.customer" in ocpp201["after CustomerInformation"]
