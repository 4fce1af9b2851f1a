#!/usr/bin/env python3
"""Resident memory of a station with every feature block used once, on security profile 2.

    .venv/bin/python scripts/bench_blocks.py [--ocpp 1.6|2.0.1|both] [--sessions N]
                                             [--json FILE] [--maps]

`scripts/bench` measures RSS only for a 1.6 station on profile 1. A production station
talks TLS (profile 2/3), manages certificates and takes signed firmware; this measures that
station. For each OCPP version: a throw-away CA made here (the CSMS's server certificate and
the station's `csms.ca_file`), a maker CA that signs a firmware image, the dev CSMS serving
wss:// on this script's loop (its `call()` drives the station) and a local HTTP server for
the firmware download and the log upload. The daemon (`python -m chargerd run`) then goes
through every block once:

    charging profile set · certificate installed and listed (GetInstalledCertificateIds) ·
    CSR round trip (SignCertificate / CertificateSigned) · display message set (2.0.1) ·
    monitor set (2.0.1) · GetLog upload · signed firmware update to the `sim` installer

and VmRSS (/proc/<pid>/status) is read after boot, after the blocks once it settled, and
after `--sessions` more charging sessions. `cryptography` column: whether its Rust
extension (`_rust.abi3.so`, which bundles its own OpenSSL) is mapped into the daemon.

`measure(ocpp_version, sessions) -> dict` is what scripts/bench can call (from its own
event loop: `await measure_async(...)`). Every process started is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devcsms import Csms, Csms201  # noqa: E402
from devcsms.server import server_tls  # noqa: E402

STATION_ID = "CP-RSS"
PASSWORD = "bench-blocks-password-01"
WAIT_S = 20.0  # the longest a single expected reaction may take
SETTLE_S = 3.0  # after the blocks, before reading VmRSS: pending work and GC are done
FIRMWARE_VERSION = "9.9.1"
BUDGET_MB = 40.0


# --------------------------------------------------------------------------- throw-away PKI


class Pki:
    """A CSMS root CA with a server certificate for 127.0.0.1, a maker root with a firmware
    signing certificate, and what a CSMS does with a station's CSR."""

    def __init__(self, directory: Path) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self.dir = directory
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = self._issue("Bench CSMS Root", self.ca_key.public_key(), None, ca=True)
        server_key = ec.generate_private_key(ec.SECP256R1())
        server = self._issue("csms", server_key.public_key(), self.ca, ip="127.0.0.1")
        self.server_cert = self._write("csms.pem", self.pem(server))
        self.server_key = self._write("csms.key", self._key_pem(server_key))
        self.ca_file = self._write("csms-root.pem", self.pem(self.ca))
        self.maker_key = ec.generate_private_key(ec.SECP256R1())
        self.maker = self._issue("Bench Maker Root", self.maker_key.public_key(), None, ca=True,
                                 key=self.maker_key)  # fmt: skip
        self.signer_key = ec.generate_private_key(ec.SECP256R1())
        self.signer = self._issue("Bench Firmware Signing", self.signer_key.public_key(),
                                  self.maker, key=self.maker_key)  # fmt: skip
        self.trust_anchor = self._write("maker-root.pem", self.pem(self.maker))

    def _issue(self, cn: str, public_key: Any, issuer: Any, *, ca: bool = False,
               key: Any = None, ip: str | None = None) -> Any:  # fmt: skip
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import NameOID

        now = dt.datetime.now(dt.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer.subject if issuer is not None else name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ip:
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))])
            builder = builder.add_extension(san, critical=False)
        return builder.sign(key or self.ca_key, hashes.SHA256())

    def new_root(self, cn: str) -> str:
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        return self.pem(self._issue(cn, key.public_key(), None, ca=True, key=key))

    def sign_csr(self, csr_pem: str) -> str:
        from cryptography import x509

        csr = x509.load_pem_x509_csr(csr_pem.encode())
        cn = csr.subject.rfc4514_string().split("CN=")[1].split(",")[0]
        return self.pem(self._issue(cn, csr.public_key(), self.ca))

    def sign_file(self, file: Path) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        signature = self.signer_key.sign(file.read_bytes(), ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode()

    @staticmethod
    def pem(cert: Any) -> str:
        from cryptography.hazmat.primitives.serialization import Encoding

        return cert.public_bytes(Encoding.PEM).decode()

    @staticmethod
    def _key_pem(key: Any) -> str:
        from cryptography.hazmat.primitives import serialization

        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()  # fmt: skip

    def _write(self, name: str, text: str) -> Path:
        path = self.dir / name
        path.write_text(text)
        return path


# --------------------------------------------------------------------------- file server


class _Files(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    uploads: dict[str, bytes] = {}
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def do_PUT(self) -> None:
        self.uploads[self.path] = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT


@contextmanager
def file_server(files: dict[str, bytes]) -> Iterator[tuple[int, dict[str, bytes]]]:
    """An HTTP server on 127.0.0.1 serving `files`; yields (port, uploads)."""
    handler = type("Files", (_Files,), {"files": files, "uploads": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler.uploads
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- the daemon


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cryptography_loaded(pid: int) -> bool:
    """Whether cryptography's Rust extension (with its own OpenSSL) is mapped."""
    return "_rust.abi3.so" in Path(f"/proc/{pid}/maps").read_text()


def largest_mappings(pid: int, top: int = 12) -> list[tuple[str, float]]:
    """(mapping, RSS MB) by file (anonymous memory as [anon]), largest first."""
    sizes: dict[str, int] = {}
    name = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            name = head[5] if len(head) > 5 else "[anon]"
        elif line.startswith("Rss:"):
            sizes[name] = sizes.get(name, 0) + int(head[1])
    ordered = sorted(sizes.items(), key=lambda kv: -kv[1])[:top]
    return [(Path(n).name if n.startswith("/") else n, kb / 1024) for n, kb in ordered]


class Daemon:
    """`python -m chargerd run` with a config of profile 2 against `csms`."""

    def __init__(self, directory: Path, config: dict[str, Any]) -> None:
        self.dir = directory
        self.socket = Path(tempfile.mkdtemp(prefix="cdr-", dir="/tmp")) / "ctl.sock"
        config["control"] = {"socket": str(self.socket)}
        self.config_path = directory / "station.yaml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log_path = directory / "station.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as deployed: compiled bytecode
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "chargerd", "run", "--config", str(self.config_path)],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                start_new_session=True,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def ctl(self, cmd: str, *args: str) -> dict[str, Any]:
        reader, writer = await asyncio.open_unix_connection(str(self.socket))
        try:
            writer.write(json.dumps({"cmd": cmd, "args": list(args)}).encode() + b"\n")
            await writer.drain()
            return json.loads(await asyncio.wait_for(reader.readline(), WAIT_S))
        finally:
            writer.close()

    async def until(self, check: Callable[[dict[str, Any]], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while True:
            self.alive()
            try:
                answer = await self.ctl("status")
                if answer.get("ok") and check(answer["status"]):
                    return
            except (OSError, ValueError):
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise TimeoutError(f"not within {WAIT_S} s: {what}\n{self.tail()}")
            await asyncio.sleep(0.02)

    async def until_status(self, connector: int, status: str) -> None:
        def check(s: dict[str, Any]) -> bool:
            return next(c for c in s["connectors"] if c["id"] == connector)["status"] == status

        await self.until(check, f"connector {connector} {status}")

    def alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"chargerd exited with {self.proc.returncode}\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def station_config(version: str, csms_url: str, pki: Pki, state: Path) -> dict[str, Any]:
    connectors: list[dict[str, Any]] = [
        {"id": 1, "max_current_a": 32, "phases": 3},
        {"id": 2, "max_current_a": 32, "phases": 3},
    ]
    config: dict[str, Any] = {
        "station": {"id": STATION_ID, "vendor": "bench", "model": "bench-blocks"},
        "csms": {
            "url": csms_url,
            "ocpp_version": version,
            "password": PASSWORD,
            "security_profile": 2,
            "ca_file": str(pki.ca_file),
            "call_timeout_s": 10,
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.5,
        },
        "storage": {"dir": str(state)},
        "hal": {"driver": "sim"},
        "connectors": connectors,
        "firmware": {"installer": "sim", "trust_anchor": str(pki.trust_anchor)},
        "log": {"level": "info"},
    }
    if version == "2.0.1":
        for c in connectors:
            c["display"] = {"driver": "sim"}
        config["display"] = {"driver": "sim"}
        config["ocpp"] = {"OCPPCommCtrlr": {"HeartbeatInterval": 300},
                          "SampledDataCtrlr": {"TxUpdatedInterval": 60}}  # fmt: skip
    else:
        config["ocpp"] = {"HeartbeatInterval": 300, "MeterValueSampleInterval": 60}
    return config


# --------------------------------------------------------------------------- the blocks


def iso(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z"
    )


class Run:
    """One version's walk through the blocks against the CSMS on this loop."""

    def __init__(self, version: str, csms: Any, daemon: Daemon, pki: Pki, port: int,
                 uploads: dict[str, bytes], image: Path) -> None:  # fmt: skip
        self.v201 = version == "2.0.1"
        self.csms, self.daemon, self.pki = csms, daemon, pki
        self.port, self.uploads, self.image = port, uploads, image

    async def call(self, action: str, payload: dict[str, Any], *accepted: str) -> dict[str, Any]:
        answer = await self.csms.call(STATION_ID, action, payload, timeout=WAIT_S)
        if accepted and answer.get("status") not in accepted:
            raise RuntimeError(f"{action} answered {answer}\n{self.daemon.tail()}")
        return answer

    async def sent(self, action: str, after: int, **fields: Any) -> Any:
        def matches(e: Any) -> bool:
            return (e.kind == "call" and e.direction == "in" and e.action == action
                    and all(e.payload.get(k) == v for k, v in fields.items()))  # fmt: skip

        return await self.csms.wait_for(matches, WAIT_S, after=after)

    def mark(self) -> int:
        return len(self.csms.ledger.entries)

    async def connected(self, after: int) -> None:
        await self.csms.wait_for(
            lambda e: e.kind == "connect" and e.station_id == STATION_ID, WAIT_S, after=after
        )

    async def charging_profile(self) -> None:
        schedule = {"chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}  # fmt: skip
        if self.v201:
            profile = {"id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
                       "chargingProfileKind": "Absolute",
                       "chargingSchedule": [{"id": 10, "startSchedule": iso(time.time()),
                                             **schedule}]}  # fmt: skip
            await self.call("SetChargingProfile", {"evseId": 1, "chargingProfile": profile},
                            "Accepted")  # fmt: skip
        else:
            profile = {"chargingProfileId": 1, "stackLevel": 0,
                       "chargingProfilePurpose": "TxDefaultProfile",
                       "chargingProfileKind": "Absolute",
                       "chargingSchedule": {"startSchedule": iso(time.time()),
                                            **schedule}}  # fmt: skip
            wire = {"connectorId": 1, "csChargingProfiles": profile}
            await self.call("SetChargingProfile", wire, "Accepted")

    async def certificates(self) -> None:
        kind = "CSMSRootCertificate" if self.v201 else "CentralSystemRootCertificate"
        root = self.pki.new_root("Bench Second CSMS Root")
        await self.call("InstallCertificate", {"certificateType": kind, "certificate": root},
                        "Accepted")  # fmt: skip
        if self.v201:
            await self.call("GetInstalledCertificateIds", {}, "Accepted")
        else:
            await self.call("GetInstalledCertificateIds", {"certificateType": kind}, "Accepted")

    async def csr_round_trip(self) -> None:
        mark = self.mark()
        if self.v201:
            trigger = {"requestedMessage": "SignChargingStationCertificate"}
            await self.call("TriggerMessage", trigger, "Accepted")
        else:
            trigger = {"requestedMessage": "SignChargePointCertificate"}
            await self.call("ExtendedTriggerMessage", trigger, "Accepted")
        request = await self.sent("SignCertificate", mark)
        chain = self.pki.sign_csr(request.payload["csr"])
        payload: dict[str, Any] = {"certificateChain": chain}
        if self.v201:
            payload["certificateType"] = "ChargingStationCertificate"
        await self.call("CertificateSigned", payload, "Accepted")

    async def display_message(self) -> None:
        message = {"id": 1, "priority": "NormalCycle",
                   "message": {"format": "UTF8", "content": "Welcome"}}  # fmt: skip
        await self.call("SetDisplayMessage", {"message": message}, "Accepted")

    async def monitor(self) -> None:
        item = {"type": "UpperThreshold", "value": 5000, "severity": 5,
                "component": {"name": "EVSE", "evse": {"id": 1}},
                "variable": {"name": "Power"}}  # fmt: skip
        answer = await self.call("SetVariableMonitoring", {"setMonitoringData": [item]})
        if answer["setMonitoringResult"][0]["status"] != "Accepted":
            raise RuntimeError(f"SetVariableMonitoring answered {answer}")

    async def log_upload(self) -> None:
        mark = self.mark()
        await self.call("GetLog", {"logType": "DiagnosticsLog", "requestId": 7,
                                   "log": {"remoteLocation": f"http://127.0.0.1:{self.port}/logs/"}},
                        "Accepted")  # fmt: skip
        await self.sent("LogStatusNotification", mark, status="Uploaded")

    async def firmware(self) -> None:
        mark = self.mark()
        firmware = {"location": f"http://127.0.0.1:{self.port}/fw/{self.image.name}",
                    "retrieveDateTime": iso(time.time()),
                    "signingCertificate": self.pki.pem(self.pki.signer),
                    "signature": self.pki.sign_file(self.image)}  # fmt: skip
        payload = {"requestId": 3, "retries": 1, "retryInterval": 1, "firmware": firmware}
        action = "UpdateFirmware" if self.v201 else "SignedUpdateFirmware"
        await self.call(action, payload, "Accepted")
        status = "FirmwareStatusNotification" if self.v201 else "SignedFirmwareStatusNotification"
        await self.sent(status, mark, status="Installed")
        await self.daemon.until(lambda s: s["link"]["state"] == "connected", "reconnected")

    async def every_block(self) -> list[str]:
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("charging profile", self.charging_profile),
            ("certificate installed and listed", self.certificates),
            ("CSR round trip", self.csr_round_trip),
            ("GetLog upload", self.log_upload),
            ("signed firmware update", self.firmware),
        ]
        if self.v201:
            steps[3:3] = [("display message", self.display_message), ("monitor", self.monitor)]
        self.steps_mb: dict[str, float] = {}  # RSS right after each block
        for name, step in steps:
            await step()
            self.steps_mb[name] = round(rss_mb(self.daemon.pid), 1)
        return [name for name, _ in steps]

    async def sessions(self, count: int) -> None:
        d = self.daemon
        for i in range(count):
            connector = 1 + i % 2
            tag = f"RSS{i % 7}"
            await d.ctl("sim", "plug", str(connector))
            await d.ctl("sim", "tag", tag, "--connector", str(connector))
            await d.until_status(connector, "Charging")
            await d.ctl("sim", "tag", tag, "--connector", str(connector))
            await d.until_status(connector, "Finishing")
            await d.ctl("sim", "unplug", str(connector))
            await d.until_status(connector, "Available")


# --------------------------------------------------------------------------- measuring


async def measure_async(
    version: str = "2.0.1", sessions: int = 100, maps: bool = False,
    workdir: Path | None = None, keep: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """RSS (MB) of a `version` station on profile 2 after boot, after every block once and
    after `sessions` more sessions; whether cryptography is mapped; the blocks used."""
    directory = Path(tempfile.mkdtemp(prefix="bench-blocks-", dir=workdir))
    pki = Pki(directory)
    image = directory / f"chargerd-fw-{FIRMWARE_VERSION}.bin"
    image.write_bytes(os.urandom(2_000_000))
    csms_class = Csms201 if version == "2.0.1" else Csms
    csms = csms_class(close_timeout=0.5, password=PASSWORD,
                      ssl=server_tls(str(pki.server_cert), str(pki.server_key), None))  # fmt: skip
    await csms.start()
    daemon = Daemon(directory, station_config(version, csms.url, pki, directory / "state"))
    result: dict[str, Any] = {"ocpp": version, "security_profile": 2}
    try:
        with file_server({f"/fw/{image.name}": image.read_bytes()}) as (port, uploads):
            run = Run(version, csms, daemon, pki, port, uploads, image)
            mark = run.mark()
            daemon.start()
            await run.connected(mark)
            await daemon.until(lambda s: s["link"]["state"] == "connected", "connected")
            await asyncio.sleep(SETTLE_S)
            result["rss_boot_mb"] = round(rss_mb(daemon.pid), 1)
            result["cryptography_after_boot"] = cryptography_loaded(daemon.pid)
            result["blocks"] = await run.every_block()
            result["rss_after_each_block_mb"] = run.steps_mb
            await asyncio.sleep(SETTLE_S)
            result["rss_blocks_mb"] = round(rss_mb(daemon.pid), 1)
            result["cryptography_after_blocks"] = cryptography_loaded(daemon.pid)
            if maps:
                result["mappings_mb"] = largest_mappings(daemon.pid)
            await run.sessions(sessions)
            await asyncio.sleep(SETTLE_S)
            result["sessions"] = sessions
            result["rss_sessions_mb"] = round(rss_mb(daemon.pid), 1)
            result["cryptography_after_sessions"] = cryptography_loaded(daemon.pid)
            violations = list(csms.ledger.violations)
            if violations:
                result["violations"] = violations
    finally:
        daemon.stop()
        await csms.stop()
        import shutil

        shutil.rmtree(daemon.socket.parent, ignore_errors=True)
        if keep:
            result["directory"] = str(directory)  # the daemon's log and state
        else:
            shutil.rmtree(directory, ignore_errors=True)
    return result


def measure(version: str = "2.0.1", sessions: int = 100, maps: bool = False,
            keep: bool = False) -> dict[str, Any]:  # fmt: skip
    """measure_async on a loop of its own (from synchronous callers)."""
    return asyncio.run(measure_async(version, sessions, maps, keep=keep))


def table(results: list[dict[str, Any]]) -> str:
    rows = [f"{'OCPP':<7} {'boot MB':>8} {'blocks MB':>10} {'+sessions MB':>13} "
            f"{'cryptography mapped':>20}  budget {BUDGET_MB:.0f} MB"]  # fmt: skip
    for r in results:
        loaded = "yes" if r["cryptography_after_sessions"] or r["cryptography_after_blocks"] \
            else "no"  # fmt: skip
        worst = max(r["rss_blocks_mb"], r["rss_sessions_mb"])
        verdict = "ok" if worst <= BUDGET_MB else "MISS"
        rows.append(f"{r['ocpp']:<7} {r['rss_boot_mb']:>8.1f} {r['rss_blocks_mb']:>10.1f} "
                    f"{r['rss_sessions_mb']:>13.1f} {loaded:>20}  {verdict}"
                    f"  ({r['sessions']} sessions)")  # fmt: skip
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--ocpp", choices=["1.6", "2.0.1", "both"], default="both")
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--maps", action="store_true", help="largest mappings after the blocks")
    parser.add_argument("--keep", action="store_true", help="keep the daemon's directory (log)")
    args = parser.parse_args()
    versions = ["1.6", "2.0.1"] if args.ocpp == "both" else [args.ocpp]
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    results = [measure(v, args.sessions, args.maps, args.keep) for v in versions]
    print(table(results))
    for r in results:
        if r.get("violations"):
            print(f"{r['ocpp']}: CSMS saw protocol violations: {r['violations']}")
        steps = ", ".join(f"{k} {v:.1f}" for k, v in r["rss_after_each_block_mb"].items())
        print(f"{r['ocpp']}: MB after each block: {steps}")
        for name, mb in r.get("mappings_mb", []):
            print(f"  {r['ocpp']}  {mb:6.1f} MB  {name}")
        if "directory" in r:
            print(f"{r['ocpp']}: kept {r['directory']}")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
