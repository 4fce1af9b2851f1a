"""The security part as the daemon and the link use it: the plan of each connection
attempt, TLS failures as security events once per episode, renewal, status."""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import replace

import pytest

from chargerd.config.csms import CsmsConfig
from chargerd.config.security import SecurityConfig
from chargerd.config.station import StationInfo
from chargerd.security.part import SecurityPart
from chargerd.store import Store

from . import pki


class Config:
    """The fields of chargerd.config.Config the part reads."""

    def __init__(self, tmp_path, **csms):
        self.station = StationInfo(id="CP-001")
        self.csms = CsmsConfig(url="wss://127.0.0.1:9/ocpp", ocpp_version="2.0.1",
                               password="yaml-password-1234",
                               **csms)  # fmt: skip
        self.storage_dir = tmp_path
        self.security = SecurityConfig(renew_days=30)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path)
    yield s
    s.close()


@pytest.fixture
def root_file(tmp_path):
    root = pki.root("CSMS Root")
    root.write(tmp_path, "csms-root")
    return root, str(tmp_path / "csms-root.pem")


def events(part):
    return [line.split()[1] for line in part.events.log.lines()]


def test_each_start_records_startup(store, tmp_path):
    part = SecurityPart(Config(tmp_path), store)
    assert events(part) == ["StartupOfTheDevice"]


def test_profile_2_plan_is_strict_tls_with_basic_auth(store, tmp_path, root_file):
    _, ca = root_file
    part = SecurityPart(Config(tmp_path, security_profile=2, ca_file=ca), store)
    plan = part.plan("wss://127.0.0.1:9/ocpp/CP-001")
    assert plan.headers["Authorization"].startswith("Basic ")
    assert plan.ssl.minimum_version == ssl.TLSVersion.TLSv1_2
    assert plan.ssl.verify_mode == ssl.CERT_REQUIRED and plan.ssl.check_hostname
    assert len(plan.ssl.get_ca_certs()) == 1  # the installed root only, not the OS store


def test_profile_2_never_goes_over_plain_websockets(store, tmp_path, root_file):
    _, ca = root_file
    part = SecurityPart(Config(tmp_path, security_profile=2, ca_file=ca), store)
    with pytest.raises(Exception, match="wss://"):
        part.plan("ws://127.0.0.1:9/ocpp/CP-001")


def test_profile_1_over_ws_has_no_tls(store, tmp_path):
    plan = SecurityPart(Config(tmp_path), store).plan("ws://127.0.0.1:9/ocpp/CP-001")
    assert plan.ssl is None and "Authorization" in plan.headers


def test_a_refused_server_certificate_is_one_event_per_episode(store, tmp_path, root_file):
    _, ca = root_file
    part = SecurityPart(Config(tmp_path, security_profile=2, ca_file=ca), store)
    plan = part.plan("wss://127.0.0.1:9/ocpp/CP-001")
    refused = ssl.SSLCertVerificationError(1, "certificate verify failed")
    refused.verify_message = "unable to get local issuer certificate"
    for _ in range(3):
        part.failed(plan, refused)
    assert events(part).count("InvalidCsmsCertificate") == 1
    part.connected(plan)
    part.failed(plan, refused)
    assert events(part).count("InvalidCsmsCertificate") == 2


def test_on_16_the_event_has_the_whitepapers_name(store, tmp_path, root_file):
    _, ca = root_file
    config = Config(tmp_path, security_profile=2, ca_file=ca)
    config.csms = replace(config.csms, ocpp_version="1.6")
    part = SecurityPart(config, store)
    part.failed(part.plan(config.csms.url + "/CP-001"), ssl.SSLCertVerificationError("x"))
    assert "InvalidCentralSystemCertificate" in events(part)


def test_renewal_is_asked_renew_days_before_expiry(store, tmp_path, root_file):
    root, _ = root_file
    (tmp_path / "certs").mkdir(exist_ok=True)
    cert, key = pki.leaf("CP-001", root, days=20).write(tmp_path / "certs", "station")
    part = SecurityPart(Config(tmp_path, client_cert=str(cert), client_key=str(key)), store)
    asked = []
    part.renew_wanted.append(lambda: asked.append(1))
    now = dt.datetime.now(dt.UTC).timestamp()
    assert part.check_renewal(now) and asked == [1]
    assert not part.check_renewal(now - 30 * 86400)  # a month earlier: 49 days left


def test_status_shows_the_profile_and_the_client_certificate(store, tmp_path, root_file):
    root, ca = root_file
    cert, key = pki.leaf("CP-001", root).write(tmp_path, "client")
    part = SecurityPart(Config(tmp_path, security_profile=3, ca_file=ca, client_cert=str(cert),
                               client_key=str(key)), store)  # fmt: skip
    into: dict = {}
    part.status(into)
    assert into["security"]["profile"] == 3
    assert into["security"]["client_cert"]["subject"] == "CN=CP-001"
    plan = part.plan("wss://127.0.0.1:9/ocpp/CP-001")
    assert "Authorization" not in plan.headers  # profile 3: the certificate is the login


def test_tamper_and_invalid_messages(store, tmp_path):
    part = SecurityPart(Config(tmp_path), store)
    part.tamper()
    part.invalid_message("FormationViolation: bad frame")
    part.invalid_message("FormationViolation: another")  # within the minute: counted only
    assert events(part) == ["StartupOfTheDevice", "TamperDetectionActivated", "InvalidMessages"]
