"""The daemon's log: libraries kept quiet, device problems once, files re-opened."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from chargerd import logs
from hal.drivers.modbus_bus import ModbusBus, ModbusError


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in logs.QUIET_LIBRARIES}
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


async def test_pymodbus_frames_and_connect_warnings_stay_out_even_at_debug(
    tmp_path: Path, restore_logging: None
) -> None:
    log_file = tmp_path / "chargerd.log"
    logs.setup("debug", file=log_file)
    bus = ModbusBus.for_tcp("127.0.0.1", 1, timeout_s=0.2)  # nothing listens on port 1
    try:
        for _ in range(3):
            with pytest.raises(ModbusError, match="cannot connect"):
                await bus.read(3, 0, 2, device_id=1)
    finally:
        await bus.close()
    text = log_file.read_text()
    assert "pymodbus" not in text and "Failed to connect" not in text


def test_a_device_problem_is_logged_when_it_starts_and_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    problems = logs.DeviceProblems()
    with caplog.at_level(logging.DEBUG, logger="chargerd"):
        for _ in range(5):  # five polls of a silent meter
            problems.failed(1, "ModbusMeter", "modbus /dev/ttyUSB0 unit 3: no answer")
        problems.failed(2, "ModbusMeter", "modbus /dev/ttyUSB0 unit 4: no answer")
        for _ in range(3):
            problems.recovered(1, "ModbusMeter")
    shown = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno > logging.DEBUG]
    assert shown == [
        ("ERROR", "connector 1: ModbusMeter failed: modbus /dev/ttyUSB0 unit 3: no answer"),
        ("ERROR", "connector 2: ModbusMeter failed: modbus /dev/ttyUSB0 unit 4: no answer"),
        ("WARNING", "connector 1: ModbusMeter works again "
                    "(it failed: modbus /dev/ttyUSB0 unit 3: no answer)"),
    ]  # fmt: skip


def test_reopen_writes_to_a_new_file_after_logrotate_moved_the_old_one(
    tmp_path: Path, restore_logging: None
) -> None:
    log_file = tmp_path / "chargerd.log"
    logs.setup("info", file=log_file)
    logging.getLogger("chargerd").info("before rotation")
    rotated = tmp_path / "chargerd.log.1"
    log_file.rename(rotated)
    logs.reopen()
    logging.getLogger("chargerd").info("after rotation")
    assert [line.split(": ", 1)[1] for line in lines(rotated)] == ["before rotation"]
    assert [line.split(": ", 1)[1] for line in lines(log_file)] == [
        f"SIGHUP: log file re-opened ({log_file})",
        "after rotation",
    ]


def test_reopen_with_logs_on_stderr_says_there_is_nothing_to_reopen(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.setup("info")
    logs.reopen()
    assert "SIGHUP: logs go to stderr, nothing to re-open" in capsys.readouterr().err


def test_a_log_file_that_cannot_be_opened_falls_back_to_stderr(
    tmp_path: Path, restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.setup("info", file=tmp_path / "no-such-dir" / "chargerd.log")
    assert "cannot be opened" in capsys.readouterr().err


def test_secrets_are_redacted_in_the_file(tmp_path: Path, restore_logging: None) -> None:
    log_file = tmp_path / "chargerd.log"
    logs.setup("info", ["s3cret"], log_file)
    logging.getLogger("chargerd.link").warning("password %s refused", "s3cret")
    assert "s3cret" not in log_file.read_text() and "********" in log_file.read_text()

