"""Credentials: what the CSMS sets wins over the YAML, is tried before it is trusted, and
the profile never goes down."""

from __future__ import annotations

import pytest

from chargerd.security.credentials import Credentials, password_problem
from chargerd.security.keys import StationCertificate
from chargerd.store import Store


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path)
    yield s
    s.close()


def make(store, tmp_path, profile=1, password="yaml-password-1234", roots=True):
    return Credentials(store, profile, password, StationCertificate(tmp_path), lambda: roots)


def test_a_new_password_is_tried_and_kept_once_it_connected(store, tmp_path):
    creds = make(store, tmp_path)
    changes = []
    creds.changed.append(lambda: changes.append(1))
    creds.set_password("new-password-5678")
    assert changes == [1]
    attempt = creds.attempt()
    assert attempt.password == "new-password-5678" and attempt.trial == "password"
    assert creds.password == "yaml-password-1234"  # not before it worked
    creds.connected(attempt)
    assert creds.password == "new-password-5678"
    assert make(store, tmp_path).password == "new-password-5678"  # wins over the YAML


def test_a_refused_new_password_falls_back_to_the_old(store, tmp_path):
    creds = make(store, tmp_path)
    creds.set_password("new-password-5678")
    assert creds.failed(creds.attempt(), refused=True) == "the new password"
    assert creds.attempt().password == "yaml-password-1234"


def test_network_failures_give_the_new_password_a_few_tries(store, tmp_path):
    creds = make(store, tmp_path)
    creds.set_password("new-password-5678")
    assert creds.failed(creds.attempt(), refused=False) is None
    assert creds.attempt().password == "new-password-5678"
    creds.failed(creds.attempt(), refused=False)
    assert creds.failed(creds.attempt(), refused=False) == "the new password"


def test_password_rules():
    assert password_problem("a" * 16) is None
    assert password_problem("Ab0*-_=:+|@." + "x" * 4) is None
    assert password_problem("short") is not None
    assert password_problem("has space in it 12345") is not None
    assert password_problem("x" * 65) is not None


def test_the_profile_never_goes_down(store, tmp_path):
    creds = make(store, tmp_path, profile=1)
    assert creds.upgrade_profile(2) is None
    creds.connected(creds.attempt())
    assert creds.profile == 2
    assert "lower" in creds.upgrade_profile(1)
    assert make(store, tmp_path, profile=1).profile == 2  # not even by editing the YAML


def test_an_upgrade_that_cannot_connect_goes_back(store, tmp_path):
    creds = make(store, tmp_path, profile=1)
    creds.upgrade_profile(2)
    assert creds.attempt().profile == 2
    assert creds.failed(creds.attempt(), refused=True) == "security profile 2"
    assert creds.attempt().profile == 1 and creds.profile == 1


def test_upgrades_need_a_root_and_for_3_a_client_certificate(store, tmp_path):
    assert "root" in make(store, tmp_path, roots=False).upgrade_profile(2)
    assert "client certificate" in make(store, tmp_path).upgrade_profile(3)


def test_profile_3_sends_no_password(store, tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "c.key"
    cert.write_text("x")
    key.write_text("x")
    creds = Credentials(store, 3, "yaml-password-1234", StationCertificate(tmp_path, str(cert),
                        str(key)), lambda: True)  # fmt: skip
    attempt = creds.attempt()
    assert attempt.password is None and attempt.client is not None


def test_a_new_station_certificate_that_the_csms_refuses_is_dropped(store, tmp_path):
    from chargerd.security.keys import certificate_signed, new_csr

    from . import pki
    from .test_station_certificate import sign_csr

    root = pki.root()
    old = sign_csr(new_csr(tmp_path, "CP-001", "CPO"), root)
    certificate_signed(tmp_path, old.pem, "CP-001", [root.cert])
    station = StationCertificate(tmp_path)
    station.connected(station.for_connection())
    new = sign_csr(new_csr(tmp_path, "CP-001", "CPO"), root)
    certificate_signed(tmp_path, new.pem, "CP-001", [root.cert])
    creds = Credentials(store, 3, None, station, lambda: True)
    attempt = creds.attempt()
    assert attempt.trial == "certificate" and attempt.client.candidate
    assert creds.failed(attempt, refused=True) == "the new station certificate"
    again = creds.attempt()
    assert again.trial is None and not again.client.candidate


def test_a_yaml_profile_that_never_connected_is_not_locked_in(store, tmp_path):
    make(store, tmp_path, profile=3)  # a typo in the YAML, corrected before it connected
    assert make(store, tmp_path, profile=2).profile == 2
    creds = make(store, tmp_path, profile=2)
    creds.connected(creds.attempt())
    assert make(store, tmp_path, profile=1).profile == 2  # once it worked, it stays
