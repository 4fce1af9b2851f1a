"""Power cuts, not only kill -9: a FUSE layer that drops what was never fsync'd
(tests/support/powercut_fs.py), checked on plain files and SQLite first, then a short run of
`scripts/soak --power-cut` — the real daemon loses and double-counts no session.

These tests need FUSE (/dev/fuse, fusermount3, mfusepy; scripts/test installs the last two
when it runs as root). Without it they fail and say what is missing: a power-cut claim that
was never checked must not look like a passing one."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.powercut_fs import PowerCutMount, fuse_missing

ROOT = Path(__file__).resolve().parents[1]
SOAK = ROOT / "scripts" / "soak"
SEED = 20240612
SUMMARY = re.compile(
    r"^(?P<sessions>\d+) sessions, (?P<cuts>\d+) power cuts, (?P<outages>\d+) outages: "
    r"(?P<lost>\d+) lost, (?P<duplicated>\d+) duplicated$"
)

# A writer that dies by SIGKILL at a chosen point, as the daemon does before a power cut.
# argv: database, then "full:N" / "normal:N" steps: N commits of one row each, numbered on.
SQLITE_WRITER = """
import os, signal, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY)")
n = db.execute("SELECT COALESCE(MAX(n), 0) FROM t").fetchone()[0]
for step in sys.argv[2:]:
    mode, count = step.split(":")
    db.execute(f"PRAGMA synchronous={mode.upper()}")
    for _ in range(int(count)):
        n += 1
        db.execute("INSERT INTO t VALUES (?)", (n,))
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture
def disk() -> Iterator[PowerCutMount]:
    missing = fuse_missing()
    if missing:
        pytest.fail(f"power cuts cannot be simulated on this machine: {missing}")
    workdir = Path(tempfile.mkdtemp(prefix="powercut-", dir="/tmp"))  # short: a socket path
    with PowerCutMount(workdir) as mount:
        yield mount
    shutil.rmtree(workdir, ignore_errors=True)


def _killed_writer(db: Path, *steps: str) -> None:
    result = subprocess.run([sys.executable, "-c", SQLITE_WRITER, str(db), *steps], timeout=60)
    assert result.returncode == -signal.SIGKILL


def _rows(db: Path) -> tuple[list[int], str]:
    connection = sqlite3.connect(db)
    try:
        rows = [n for (n,) in connection.execute("SELECT n FROM t ORDER BY n")]
        return rows, connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()


def _write(path: Path, data: bytes, sync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- plain files


def test_data_never_synced_is_lost_in_a_power_cut(disk: PowerCutMount) -> None:
    path = disk.mountpoint / "note"
    _write(path, b"not synced", sync=False)
    assert path.read_bytes() == b"not synced"  # the page cache, while the power is on
    disk.cut()
    assert path.exists(), "creating a file is metadata: it is committed at once"
    assert path.read_bytes() == b""


def test_synced_data_survives_a_power_cut_and_later_writes_do_not(disk: PowerCutMount) -> None:
    path = disk.mountpoint / "note"
    _write(path, b"synced", sync=True)
    with path.open("ab") as f:
        f.write(b" and more")
    assert path.read_bytes() == b"synced and more"
    disk.cut()
    assert path.read_bytes() == b"synced"


def test_a_rename_is_kept_but_the_unsynced_content_is_not(disk: PowerCutMount) -> None:
    tmp, final = disk.mountpoint / "state.tmp", disk.mountpoint / "state"
    _write(tmp, b"new state", sync=False)
    tmp.rename(final)
    disk.cut()
    assert not tmp.exists()
    assert final.read_bytes() == b"", "rename without fsync: the classic empty file"


# --------------------------------------------------------------------------- SQLite, WAL


def test_sqlite_commits_with_synchronous_full_survive_a_power_cut(disk: PowerCutMount) -> None:
    db = disk.mountpoint / "t.sqlite"
    _killed_writer(db, "full:25")
    disk.cut()
    rows, integrity = _rows(db)
    assert integrity == "ok"
    assert rows == list(range(1, 26))


def test_sqlite_commits_with_synchronous_normal_may_be_lost_but_never_corrupt(
    disk: PowerCutMount,
) -> None:
    db = disk.mountpoint / "t.sqlite"
    _killed_writer(db, "full:10", "normal:15")
    # (not read before the cut: closing the last connection checkpoints and syncs)
    disk.cut()
    rows, integrity = _rows(db)
    assert integrity == "ok"
    assert rows == list(range(1, 11)), "no fsync since commit 10: commits 11-25 are gone"


def test_a_full_commit_makes_the_normal_commits_before_it_durable(disk: PowerCutMount) -> None:
    db = disk.mountpoint / "t.sqlite"
    _killed_writer(db, "full:3", "normal:5", "full:1", "normal:4")
    disk.cut()
    rows, integrity = _rows(db)
    assert integrity == "ok"
    assert rows == list(range(1, 10)), "WAL keeps commits in order; the FULL one synced 4-8"


@pytest.mark.parametrize("seed", range(8))
def test_sqlite_is_never_corrupt_when_a_cut_keeps_some_unsynced_blocks(
    disk: PowerCutMount, seed: int
) -> None:
    """A disk's write-back may have persisted any of the dirty blocks when the power goes:
    SQLite's WAL checksums must stop at the first frame that did not make it whole."""
    db = disk.mountpoint / "t.sqlite"
    _killed_writer(db, "full:20", "normal:200")
    _dropped, kept = disk.cut(keep=0.5, seed=seed)
    assert kept > 0
    rows, integrity = _rows(db)
    assert integrity == "ok"
    assert rows == list(range(1, len(rows) + 1)), "a prefix of the commits, no gap"
    assert 20 <= len(rows) <= 220


# --------------------------------------------------------------------------- the daemon


def test_a_power_cut_soak_loses_and_double_counts_nothing() -> None:
    missing = fuse_missing()
    if missing:
        pytest.fail(f"power cuts cannot be simulated on this machine: {missing}")
    result = subprocess.run(
        [sys.executable, str(SOAK), "--power-cut", "--seconds", "25", "--seed", str(SEED)],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=ROOT,
    )
    report = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, report
    match = SUMMARY.match(result.stdout.splitlines()[0])
    assert match, report
    counts = {name: int(value) for name, value in match.groupdict().items()}
    assert counts["sessions"] >= 1, report
    assert counts["cuts"] >= 1, report
    assert counts["lost"] == 0 and counts["duplicated"] == 0, report
