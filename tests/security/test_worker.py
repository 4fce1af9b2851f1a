"""The security worker: operations run in a child process, and every way it can fail is a
WorkerError with a line for the log — never a hang, never an orphan process."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from pathlib import Path

import pytest

from chargerd.security import worker
from chargerd.security.worker import WorkerError

from . import pki


def gone(pid: int) -> bool:
    """The process has exited and been reaped (no zombie left either)."""
    return not Path(f"/proc/{pid}").exists()


async def child_pid(pid_file: Path) -> int:
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the child did not start"
        await asyncio.sleep(0.02)
    return int(pid_file.read_text())


def sleeper(pid_file: Path) -> list[str]:
    """A child that says who it is and then never answers."""
    code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    return [sys.executable, "-c", code]


async def test_a_good_root_passes_the_install_checks():
    assert await worker.call("install_problem", pem=pki.root("Good Root").pem) is None


async def test_a_certificate_that_is_not_a_ca_is_a_reason_not_an_error():
    problem = await worker.call("install_problem", pem=pki.issue(pki.name("Not CA"), None).pem)
    assert problem and "not a CA certificate" in problem


async def test_an_operation_that_raises_is_a_worker_error_naming_the_exception():
    with pytest.raises(WorkerError, match="install_problem: ValueError"):
        await worker.call("install_problem", pem="-----BEGIN CERTIFICATE-----\nxx")


async def test_an_unknown_operation_is_refused():
    with pytest.raises(WorkerError, match="unknown operation 'make_coffee'"):
        await worker.call("make_coffee")


async def test_a_worker_that_cannot_start():
    with pytest.raises(WorkerError, match="cannot be started"):
        await worker.call("install_problem", argv=["/nonexistent/python3"], pem="x")


async def test_a_worker_that_dies_without_an_answer_says_why():
    argv = [sys.executable, "-c", "import sys; sys.stderr.write('out of memory\\n'); sys.exit(3)"]
    with pytest.raises(WorkerError, match="exited with 3: out of memory"):
        await worker.call("install_problem", argv=argv, pem="x")


async def test_a_worker_that_takes_too_long_is_killed(tmp_path: Path):
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(WorkerError, match="no answer within 0.5 s"):
        await worker.call("install_problem", timeout=0.5, argv=sleeper(pid_file), pem="x")
    assert time.monotonic() - started < 5
    assert gone(await child_pid(pid_file))


async def test_a_cancelled_call_kills_its_worker(tmp_path: Path):
    pid_file = tmp_path / "pid"
    call = asyncio.create_task(worker.call("install_problem", argv=sleeper(pid_file), pem="x"))
    pid = await child_pid(pid_file)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert gone(pid)


async def test_the_worker_finds_chargerd_from_another_directory(tmp_path: Path, monkeypatch):
    """The daemon may run with any working directory and no PYTHONPATH (systemd)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    assert await worker.call("install_problem", pem=pki.root().pem) is None


async def test_a_csr_made_by_the_worker_leaves_its_key_in_the_store_dir(tmp_path: Path):
    csr = await worker.call("new_csr", storage_dir=str(tmp_path), common_name="CP-001",
                            organization="CPO")  # fmt: skip
    assert csr.startswith("-----BEGIN CERTIFICATE REQUEST-----")
    key = tmp_path / "certs" / "pending.key"
    assert key.exists() and oct(os.stat(key).st_mode & 0o777) == "0o600"


async def test_the_workers_log_lines_reach_the_daemons_log(tmp_path: Path, caplog):
    caplog.set_level(logging.INFO)
    await worker.call("new_csr", storage_dir=str(tmp_path), common_name="CP-001",
                      organization="CPO")  # fmt: skip
    [record] = [r for r in caplog.records if "new key pair and CSR" in r.getMessage()]
    assert record.name == "chargerd.security" and record.levelno == logging.INFO
