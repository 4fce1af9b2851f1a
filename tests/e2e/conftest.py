"""End-to-end harness: the real daemon (a subprocess) against the in-process CSMS.

- `csms`: a `devcsms.Csms` on 127.0.0.1, port 0, in the test's event loop. At the
  end of every test its ledger must hold no protocol violation.
- `station`: a `Station` that writes a YAML config into tmp_path and runs
  `python -m chargerd run --config ...` with stderr captured to a file; the log is
  printed when the test fails.

Every wait has a timeout (at most 10 s), so a broken daemon fails a test, never hangs it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from chargerd.ctl import request
from devcsms import Csms, LedgerEntry

STATION_ID = "CP-E2E"
VENDOR = "e2e-vendor"
MODEL = "e2e-model"
WAIT_S = 10.0  # the longest any single wait may take
POLL_S = 0.05

# Fast OCPP values for tests; tests override what they need.
FAST_OCPP: dict[str, Any] = {
    "MeterValueSampleInterval": 1,
    "TransactionMessageRetryInterval": 1,
    "HeartbeatInterval": 300,
}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep each phase's report on the item, so finalizers know whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _failed(node: pytest.Item) -> bool:
    return any(
        getattr(getattr(node, f"rep_{when}", None), "failed", False) for when in ("setup", "call")
    )


# --------------------------------------------------------------------------- ledger helpers


def calls(csms: Csms, action: str | None = None, after: int = 0) -> list[LedgerEntry]:
    """CALLs the station sent (optionally of one action), from ledger index `after` on."""
    return [
        e
        for e in csms.ledger.entries[after:]
        if e.kind == "call"
        and e.direction == "in"
        and e.station_id == STATION_ID
        and (action is None or e.action == action)
    ]


def is_call(action: str, **fields: Any) -> Callable[[LedgerEntry], bool]:
    """A wait_for predicate: a received CALL of `action` whose payload has these fields."""

    def matches(e: LedgerEntry) -> bool:
        return (
            e.kind == "call"
            and e.direction == "in"
            and e.station_id == STATION_ID
            and e.action == action
            and all(e.payload.get(k) == v for k, v in fields.items())
        )

    matches.__name__ = f"{action}{fields}"
    return matches


async def wait_call(
    csms: Csms,
    action: str,
    *,
    after: int = 0,
    timeout: float = WAIT_S,
    answered: bool = True,
    **fields: Any,
) -> LedgerEntry:
    """The first matching CALL the station sent; with `answered`, once the CSMS has
    processed it and recorded its answer (so the ledger's records are up to date)."""
    entry = await csms.wait_for(is_call(action, **fields), timeout, after=after)
    if answered:
        await csms.wait_for(
            lambda e: (
                e.direction == "out"
                and e.kind in ("result", "error")
                and e.unique_id == entry.unique_id
            ),
            timeout,
            after=entry.index,
        )
    return entry


async def wait_until(
    predicate: Callable[[], bool], what: str, timeout: float = WAIT_S, interval: float = POLL_S
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout} s: {what}")
        await asyncio.sleep(interval)


def energy_values(meter_values: list[dict]) -> list[int]:
    """Energy.Active.Import.Register readings (Wh) in a list of MeterValue objects."""
    out = []
    for mv in meter_values:
        for sv in mv["sampledValue"]:
            if sv.get("measurand", "Energy.Active.Import.Register") == (
                "Energy.Active.Import.Register"
            ):
                factor = 1000 if sv.get("unit") == "kWh" else 1
                out.append(round(float(sv["value"]) * factor))
    return out


# --------------------------------------------------------------------------- the station


class Station:
    """The real daemon as a subprocess, with its config, state dir and control socket."""

    def __init__(self, csms: Csms, tmp_path: Path, sock_dir: Path) -> None:
        self.csms = csms
        self.station_id = STATION_ID
        self.dir = tmp_path
        self.config_path = tmp_path / "station.yaml"
        self.state_dir = tmp_path / "state"
        self.socket = sock_dir / "ctl.sock"  # short: a Unix socket path has ≤ 107 bytes
        self.log_path = tmp_path / "chargerd.log"
        self.ocpp: dict[str, Any] = dict(FAST_OCPP)
        self.password: str | None = None
        self.log_level = "info"
        self.overrides: list[str] = []
        self.proc: subprocess.Popen | None = None
        self.runs = 0
        self.exit_codes: list[int] = []

    # ---- configuration

    def config(self) -> dict[str, Any]:
        return {
            "station": {"id": self.station_id, "vendor": VENDOR, "model": MODEL},
            "csms": {
                "url": self.csms.url,
                "ocpp_version": "1.6",
                "password": self.password,
                "call_timeout_s": 1,
                "reconnect_min_s": 0.05,
                "reconnect_max_s": 0.3,
            },
            "storage": {"dir": str(self.state_dir)},
            "control": {"socket": str(self.socket)},
            "hal": {"driver": "sim"},
            "connectors": [
                {"id": 1, "max_current_a": 32, "phases": 3},
                {"id": 2, "max_current_a": 32, "phases": 3},
            ],
            "ocpp": dict(self.ocpp),
            "log": {"level": self.log_level},
        }

    def write_config(self) -> None:
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))

    # ---- life cycle

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def start(self, *, wait: bool = True) -> int:
        """Start the daemon; with `wait`, until it is connected and has reported the
        status of connectors 0, 1 and 2. Returns the ledger index before the start."""
        assert not self.running, "the daemon is already running"
        mark = len(self.csms.ledger.entries)
        self.write_config()
        self.runs += 1
        with self.log_path.open("a") as log:
            log.write(f"\n===== run {self.runs} =====\n")
        command = [sys.executable, "-m", "chargerd", "run", "--config", str(self.config_path)]
        for kv in self.overrides:
            command += ["--set", kv]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                command,
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        await self.wait_socket()
        if wait:
            await self.csms.wait_for(
                lambda e: e.kind == "connect" and e.station_id == self.station_id,
                WAIT_S,
                after=mark,
            )
            await self.wait_statuses_reported(after=mark)
        return mark

    async def wait_socket(self) -> None:
        def up() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"chargerd exited with {self.proc.returncode} while starting:\n{self.log()}"
                )
            return self.socket.exists()

        await wait_until(up, f"control socket {self.socket}")
        await wait_until(self._answers, "chargerd to answer on its control socket")

    def _answers(self) -> bool:
        try:
            return bool(request(str(self.socket), {"cmd": "status"}, timeout=1).get("ok"))
        except (OSError, ValueError):
            return False

    async def wait_statuses_reported(self, after: int, connectors=(0, 1, 2)) -> None:
        def reported() -> bool:
            seen = {e.payload["connectorId"] for e in calls(self.csms, "StatusNotification", after)}
            return set(connectors) <= seen

        await wait_until(reported, f"StatusNotification for connectors {connectors}")

    def kill(self) -> None:
        """SIGKILL: the power cut of a process."""
        assert self.proc is not None
        self.proc.kill()
        self.exit_codes.append(self.proc.wait(timeout=WAIT_S))

    async def wait_exit(self, timeout: float = WAIT_S) -> int:
        assert self.proc is not None
        proc = self.proc
        await wait_until(lambda: proc.poll() is not None, "chargerd to exit", timeout)
        self.exit_codes.append(proc.returncode)
        return proc.returncode

    async def stop(self) -> None:
        """SIGTERM: a graceful stop must exit 0."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = await self.wait_exit()
        assert code == 0, f"chargerd exited with {code} after SIGTERM:\n{self.log()}"

    async def restart(self) -> int:
        await self.stop()
        return await self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"

    # ---- chargerctl

    async def ctl(self, *args: str) -> dict[str, Any]:
        """One control-socket request: ("status",) or ("sim", "plug", "1"), ...; the answer."""
        message: dict[str, Any] = {"cmd": args[0]}
        if args[0] == "sim":
            message["args"] = list(args[1:])
        return await asyncio.to_thread(request, str(self.socket), message, 5)

    async def sim(self, *args: str) -> str:
        answer = await self.ctl("sim", *args)
        assert answer.get("ok"), f"sim {' '.join(args)}: {answer}"
        return answer["message"]

    async def status(self) -> dict[str, Any]:
        answer = await self.ctl("status")
        assert answer.get("ok"), answer
        return answer["status"]

    async def connector(self, n: int) -> dict[str, Any]:
        status = await self.status()
        return next(c for c in status["connectors"] if c["id"] == n)

    async def wait_status(self, connector: int, status: str, timeout: float = WAIT_S) -> None:
        """Poll chargerctl status until `connector` shows `status`."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = (await self.connector(connector))["status"]
            if last == status:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"connector {connector} is {last}, not {status}, after {timeout} s"
                )
            await asyncio.sleep(POLL_S)

    async def wait_outbox(self, predicate: Callable[[int], bool], what: str) -> int:
        deadline = time.monotonic() + WAIT_S
        while True:
            depth = (await self.status())["outbox_depth"]
            if predicate(depth):
                return depth
            if time.monotonic() > deadline:
                raise TimeoutError(f"outbox depth {depth}: not {what}")
            await asyncio.sleep(POLL_S)

    async def wait_link(self, connected: bool) -> None:
        deadline = time.monotonic() + WAIT_S
        while True:
            state = (await self.status())["link"]["state"]
            if (state == "connected") == connected:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"link is {state!r}")
            await asyncio.sleep(POLL_S)

    # ---- sessions

    async def start_session(self, connector: int = 1, tag: str = "TAG1") -> int:
        """Plug in and present a tag; the CSMS's transactionId once Charging."""
        after = len(self.csms.ledger.entries)
        await self.sim("plug", str(connector))
        await self.sim("tag", tag)
        await self.wait_status(connector, "Charging")
        entry = await wait_call(
            self.csms, "StartTransaction", after=after, connectorId=connector, idTag=tag
        )
        # the CSMS has heard of Charging too: a test's later StatusNotification is its own
        await wait_call(self.csms, "StatusNotification", after=after, connectorId=connector,
                        status="Charging")  # fmt: skip
        await wait_until(
            lambda: any(
                t.connector_id == connector and t.start_timestamp == entry.payload["timestamp"]
                for t in self.csms.ledger.transactions.values()
            ),
            "the CSMS to record the transaction",
        )
        return next(
            t.transaction_id
            for t in self.csms.ledger.transactions.values()
            if t.start_timestamp == entry.payload["timestamp"] and t.connector_id == connector
        )


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
async def csms():
    """The CSMS; every test ends with its ledger free of protocol violations."""
    server = Csms(close_timeout=0.5)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    violations = server.ledger.violations
    assert violations == [], "protocol violations of the station:\n" + "\n".join(violations)


@pytest.fixture
async def station(csms: Csms, tmp_path: Path, request: pytest.FixtureRequest):
    """A daemon (not started yet); killed at the end, its log printed if the test failed."""
    sock_dir = Path(tempfile.mkdtemp(prefix="cd-", dir="/tmp"))
    st = Station(csms, tmp_path, sock_dir)
    try:
        yield st
    finally:
        if st.running:
            st.kill()
        if _failed(request.node) or csms.ledger.violations:
            print(f"===== chargerd log ({st.log_path}) =====")
            print(st.log())
            print("===== CSMS ledger =====")
            for entry in csms.ledger.entries[-60:]:
                print(f"  {entry}")
        shutil.rmtree(sock_dir, ignore_errors=True)


def run_cli(*args: str, module: str = "chargerd", cwd: Path | None = None, timeout: float = 10):
    """Run `python -m chargerd ...` (or chargerd.ctl); the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )
