"""The frame log (ocpp-frames.log): every frame with its UTC time and direction, secrets
hidden, bounded by rotation into one older file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chargerd import frames


@pytest.fixture
def storage(tmp_path: Path):
    frames.open_log(tmp_path)
    yield tmp_path
    frames.close_log()


def test_a_frame_is_in_the_file_as_soon_as_it_is_recorded(storage: Path) -> None:
    frames.record("→", '[2,"1","Heartbeat",{}]')
    frames.record("←", b"\xff not text")
    lines = (storage / frames.FILE_NAME).read_text().splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z → \[2,\"1\",\"Heartbeat\",\{\}\]",
                        lines[0])  # fmt: skip
    assert lines[1].endswith("← b'\\xff not text'")


def test_secrets_never_reach_the_file(storage: Path) -> None:
    frames.record("←", '[2,"9","ChangeConfiguration",{"key":"AuthorizationKey","value":"s3cr3t"}]')
    text = (storage / frames.FILE_NAME).read_text()
    assert "s3cr3t" not in text and frames.HIDDEN in text


def test_the_log_rotates_into_one_older_file_and_stays_bounded(storage: Path) -> None:
    frame = '[2,"x","MeterValues",{"connectorId":1,"meterValue":[]}]' + " " * 900
    count = 3 * frames.MAX_BYTES // len(frame)
    for n in range(count):
        frames.record("→", frame.replace('"x"', f'"{n}"'))
    current, older = storage / frames.FILE_NAME, storage / f"{frames.FILE_NAME}.1"
    assert frames.files(storage) == [older, current]
    assert current.stat().st_size <= frames.MAX_BYTES and older.stat().st_size <= frames.MAX_BYTES
    # the newest frame is in the current file, the frames just before it in the older one
    assert f'"{count - 1}"' in current.read_text()
    first_current = current.read_text().splitlines()[0]
    n = int(re.search(r'\[2,"(\d+)"', first_current).group(1))
    assert f'[2,"{n - 1}"' in older.read_text().splitlines()[-1]


def test_reopening_after_a_restart_appends(storage: Path) -> None:
    frames.record("→", "first")
    frames.close_log()
    frames.open_log(storage)
    frames.record("→", "second")
    lines = (storage / frames.FILE_NAME).read_text().splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == ["first", "second"]
