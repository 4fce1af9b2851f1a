"""Security profiles 2 and 3 end to end: the daemon against the dev CSMS serving TLS on
127.0.0.1 with a throw-away CA made here."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

from chargerd.ctl import request
from devcsms import Csms, Csms201
from devcsms.server import server_tls
from tests.security import pki

from .conftest import STATION_ID, calls, run_cli, wait_call, wait_until
from .conftest201 import Station201

PASSWORD = "e2e-secret-password-0123"


@pytest.fixture
def certs(tmp_path: Path) -> dict[str, str]:
    """A CA, the CSMS's certificate from it and one from a stranger CA, client certificates."""
    d = tmp_path / "pki"
    d.mkdir()
    root = pki.root("E2E CSMS Root")
    stranger = pki.root("Stranger Root")
    files: dict[str, str] = {}
    root.write(d, "ca")
    files["ca"] = str(d / "ca.pem")
    for stem, issuer in (("server", root), ("rogue", stranger)):
        cert, key = pki.issue(pki.name("csms.test"), issuer, hosts=("127.0.0.1",)).write(d, stem)
        files[stem], files[f"{stem}_key"] = str(cert), str(key)
    cert, key = pki.leaf(STATION_ID, root).write(d, "client")
    files["client"], files["client_key"] = str(cert), str(key)
    old = pki.NOW - dt.timedelta(days=10)
    expired = pki.leaf(STATION_ID, root, days=2, not_before=old, key=pki.ec_key())
    cert, key = expired.write(d, "expired")
    files["expired"], files["expired_key"] = str(cert), str(key)
    return files


@pytest.fixture
async def csms(certs: dict[str, str], request: pytest.FixtureRequest):
    """The dev CSMS over TLS; parametrized (indirect) with (certificate, mutual): "rogue"
    for a stranger CA's certificate, mutual to ask stations for a client certificate."""
    stem, mutual = getattr(request, "param", ("server", False))
    context = server_tls(certs[stem], certs[f"{stem}_key"], certs["ca"] if mutual else None)
    server = Csms(close_timeout=0.5, password=PASSWORD, ssl=context)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    assert server.ledger.violations == []


def profile(station, number: int, certs: dict[str, str], client: str | None = None) -> None:
    station.overrides += [f"csms.security_profile={number}", f"csms.ca_file={certs['ca']}"]
    if client:
        station.overrides += [f"csms.client_cert={certs[client]}",
                              f"csms.client_key={certs[client + '_key']}"]  # fmt: skip


def security_log(station) -> list[str]:
    path = station.state_dir / "security.log"
    return path.read_text().splitlines() if path.exists() else []


def assert_no_secret(station, secret: str) -> None:
    """Neither the daemon's log nor any file it wrote (frame log, security log) holds it."""
    assert secret not in station.log()
    for path in station.state_dir.rglob("*"):
        if path.is_file() and path.suffix in ("", ".log", ".1", ".json", ".txt"):
            assert secret not in path.read_text(errors="replace"), path


async def test_profile_2_connects_over_tls_with_basic_auth(station, csms, certs):
    station.password = PASSWORD
    profile(station, 2, certs)
    mark = await station.start()
    assert csms.url.startswith("wss://")
    hs = csms.handshakes[STATION_ID]
    assert hs.username == STATION_ID and hs.status == 101
    status = await station.status()
    assert status["security"] == {"profile": 2, "client_cert": None}
    await wait_call(csms, "SecurityEventNotification", after=mark, type="StartupOfTheDevice")
    assert any("StartupOfTheDevice" in line for line in security_log(station))

    answer = await asyncio.to_thread(
        request, str(station.socket), {"cmd": "certs", "args": ["--json"]}, 5
    )
    [root] = json.loads(answer["message"])
    assert root["type"] == "CSMSRootCertificate" and root["source"] == "config"
    assert root["subject"] == "CN=E2E CSMS Root"
    assert set(root["hash"]) == {"hashAlgorithm", "issuerNameHash", "issuerKeyHash", "serialNumber"}

    await station.sim("tamper")
    await wait_call(csms, "SecurityEventNotification", after=mark, type="TamperDetectionActivated")
    assert_no_secret(station, PASSWORD)


@pytest.mark.parametrize("csms", [("rogue", False)], indirect=True)
async def test_a_server_certificate_from_another_ca_is_refused_and_reported_once(
    station, csms, certs
):
    station.password = PASSWORD
    station.log_level = "debug"
    profile(station, 2, certs)
    mark = await station.start(wait=False)
    # several attempts, each refused: one event for the episode, not one per attempt
    await wait_until(lambda: station.log().count("cannot connect") >= 3, "three refused attempts")
    assert STATION_ID not in csms.handshakes  # nothing went over the refused TLS
    events = [line for line in security_log(station) if "InvalidCentralSystemCertificate" in line]
    assert len(events) == 1, security_log(station)
    assert "certificate verify failed" in events[0] or "unable to get" in events[0]

    await csms.stop()  # the CSMS gets its proper certificate: the event is delivered
    fixed_at = dt.datetime.now(dt.UTC)
    csms.ssl = server_tls(certs["server"], certs["server_key"], None)
    await csms.start()
    entry = await wait_call(csms, "SecurityEventNotification", after=mark,
                            type="InvalidCentralSystemCertificate")  # fmt: skip
    stamped = dt.datetime.fromisoformat(entry.payload["timestamp"].replace("Z", "+00:00"))
    assert stamped < fixed_at  # when it happened, not when it was sent
    await wait_call(csms, "SecurityEventNotification", after=mark, type="StartupOfTheDevice")
    sent = [e for e in calls(csms, "SecurityEventNotification", mark)
            if e.payload["type"] == "InvalidCentralSystemCertificate"]  # fmt: skip
    assert len(sent) == 1


@pytest.mark.parametrize("csms", [("server", True)], indirect=True)
async def test_profile_3_is_mutual_tls_without_a_password(station, csms, certs):
    station.password = PASSWORD  # present in the YAML, but profile 3 never sends it
    profile(station, 3, certs, client="client")
    await station.start()
    hs = csms.handshakes[STATION_ID]
    assert hs.authorization is None
    assert hs.client_cert is not None
    subject = dict(item[0] for item in hs.client_cert["subject"])
    assert subject["commonName"] == STATION_ID
    status = await station.status()
    assert status["security"]["profile"] == 3
    assert status["security"]["client_cert"]["subject"] == f"CN={STATION_ID}"
    assert status["security"]["client_cert"]["not_after"].endswith("Z")
    assert_no_secret(station, PASSWORD)
    key_text = Path(certs["client_key"]).read_text().splitlines()[1]
    assert_no_secret(station, key_text)


@pytest.mark.parametrize("csms", [("server", True)], indirect=True)
async def test_profile_3_without_a_client_certificate_the_csms_refuses(station, csms, certs):
    # the station is on profile 2 (password, no certificate) but the CSMS wants one
    station.password = PASSWORD
    profile(station, 2, certs)
    await station.start(wait=False)
    await wait_until(lambda: "cannot connect" in station.log(), "a refused attempt")
    assert (await station.status())["link"]["state"] != "connected"


async def test_an_expired_client_certificate_is_refused_by_check_config(station, certs):
    config = station.config()
    config["csms"].update(security_profile=3, ca_file=certs["ca"], client_cert=certs["expired"],
                          client_key=certs["expired_key"])  # fmt: skip
    station.config_path.write_text(yaml.safe_dump(config))
    done = run_cli("check-config", str(station.config_path))
    assert done.returncode == 78, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert "csms.client_cert" in out and "expired" in out


async def test_201_profile_3_reports_an_invalid_csms_certificate_by_its_201_name(tmp_path, certs):
    rogue = server_tls(certs["rogue"], certs["rogue_key"], certs["ca"])
    server = Csms201(close_timeout=0.5, ssl=rogue)
    await server.start()
    sock_dir = Path(tempfile.mkdtemp(prefix="cd-", dir="/tmp"))
    station = Station201(server, tmp_path, sock_dir)
    try:
        profile(station, 3, certs, client="client")
        await station.start(wait=False)
        logged = lambda: any("InvalidCsmsCertificate" in line for line in security_log(station))  # noqa: E731
        await wait_until(logged, "the event in security.log")
        await server.stop()
        server.ssl = server_tls(certs["server"], certs["server_key"], certs["ca"])
        await server.start()
        await wait_call(server, "SecurityEventNotification", type="InvalidCsmsCertificate")
        hs = server.handshakes[STATION_ID]
        assert hs.authorization is None and hs.client_cert is not None
        assert (await station.status())["security"]["profile"] == 3
        assert server.ledger.violations == []
    finally:
        if station.running:
            station.kill()
        await server.stop()
        shutil.rmtree(sock_dir, ignore_errors=True)


@pytest.mark.parametrize("csms", [("server", True)], indirect=True)
async def test_a_client_certificate_near_expiry_is_renewed_by_the_station(
    station, csms, certs, tmp_path
):
    root_key = Path(certs["ca"]).with_suffix(".key").read_bytes()
    root = pki.Issued(pki.load_certificate(Path(certs["ca"]).read_text()),
                      pki.load_key(root_key))  # fmt: skip
    cert, key = pki.leaf(STATION_ID, root, days=10).write(tmp_path, "expiring")
    profile(station, 3, certs)
    station.overrides += [f"csms.client_cert={cert}", f"csms.client_key={key}",
                          "security.renew_days=30"]  # fmt: skip
    mark = await station.start()
    request = await wait_call(csms, "SignCertificate", after=mark)
    signed = pki.sign_csr(request.payload["csr"], root)
    answer = await csms.call(STATION_ID, "CertificateSigned", {"certificateChain": signed.pem})
    assert answer == {"status": "Accepted"}
    await station.stop()  # the new certificate is used from the next connection on
    await station.start()
    presented = csms.handshakes[STATION_ID].client_cert
    assert int(presented["serialNumber"], 16) == signed.cert.serial_number
