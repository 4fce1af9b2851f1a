"""The security messages' rules that need no CSMS: the AuthorizationKey's hex, write-only
keys and variables never read back, what the YAML may not set, CSMS URLs compared across
ws:// and wss://. The round trips are end to end (tests/e2e/test_security16.py, 201)."""

from __future__ import annotations

import pytest
from station_files import station_yaml

from chargerd.config import Config, load_config
from chargerd.ocpp16 import keys as K
from chargerd.ocpp16.adapter import Ocpp16Adapter
from chargerd.ocpp16.security import authorization_key_password
from chargerd.ocpp201.adapter import Ocpp201Adapter
from chargerd.ocpp201.network import _where
from chargerd.ocpp201.reports import base_report
from chargerd.ocpp201.variables import check_initial_value
from chargerd.store import Store


@pytest.fixture
def config(tmp_path) -> Config:
    return load_config(station_yaml(tmp_path, "- {id: 1}\n"))


@pytest.fixture
def store(config: Config):
    store = Store(config.storage_dir, 10_000_000)
    yield store
    store.close()


# --- 1.6 AuthorizationKey ------------------------------------------------------------------


def test_authorization_key_is_the_hex_of_the_password():
    # OCPP-J 1.6 / OCTT TC_085_CS: the Basic auth header carries the decoded bytes
    assert authorization_key_password("30313233343536373839616263646566") == "0123456789abcdef"
    assert authorization_key_password("4142434445464748494A4B4C4D4E4F50") == "ABCDEFGHIJKLMNOP"
    assert authorization_key_password(b"sixteen-bytes-pw".hex()) == "sixteen-bytes-pw"
    assert authorization_key_password(b"twenty-bytes-passwd!".hex()) == "twenty-bytes-passwd!"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b"fifteen-bytes-p".hex(), "32-40 hex digits"),  # 30 digits: too short
        (b"twenty-one-bytes-pass".hex(), "32-40 hex digits"),  # 42 digits: too long
        ("g" * 32, "hex digits"),
        ("abc" * 11, "hex digits"),  # 33 digits: odd
        ("ff" * 16, "UTF-8"),  # bytes no password text can be
    ],
)
def test_authorization_key_out_of_rule_is_refused(value: str, why: str):
    with pytest.raises(ValueError, match=why) as refused:
        authorization_key_password(value)
    assert value not in str(refused.value)  # the reason never quotes the secret


def test_credentials_keys_are_not_set_in_the_yaml():
    assert "csms.password" in (K.check_initial_value("AuthorizationKey", "00" * 16) or "")
    assert "csms.security_profile" in (K.check_initial_value("SecurityProfile", 2) or "")
    assert K.check_initial_value("CpoName", "Example CPO") is None
    assert "read-only" in (K.check_initial_value("CertificateStoreMaxLength", 5) or "")


def test_get_configuration_lists_the_authorization_key_without_a_value(config, store):
    adapter = Ocpp16Adapter(config, store)
    answer = adapter._get_configuration(["AuthorizationKey", "SecurityProfile", "CpoName"])
    by_key = {entry["key"]: entry for entry in answer["configurationKey"]}
    assert by_key["AuthorizationKey"] == {"key": "AuthorizationKey", "readonly": False}
    assert "value" in by_key["SecurityProfile"] and "value" in by_key["CpoName"]
    everything = adapter._get_configuration(None)["configurationKey"]
    assert all("value" not in e for e in everything if e["key"] == "AuthorizationKey")
    assert "write-only" in adapter.ocpp_get("AuthorizationKey")


# --- 2.0.1 SecurityCtrlr -------------------------------------------------------------------


def test_basic_auth_password_is_write_only(config, store):
    adapter = Ocpp201Adapter(config, store)
    variable = {"name": "BasicAuthPassword"}
    assert adapter.dm.get({"name": "SecurityCtrlr"}, variable) == ("Rejected", None)
    reported = [
        entry
        for entry in base_report(adapter.dm, "FullInventory")
        if entry["variable"]["name"] == "BasicAuthPassword"
    ]
    (attribute,) = reported[0]["variableAttribute"]
    assert attribute["mutability"] == "WriteOnly" and "value" not in attribute
    # only SetVariables from the CSMS sets it (through the credentials), never the YAML
    assert check_initial_value("SecurityCtrlr", "BasicAuthPassword", "x" * 20) is not None


def test_certificate_signing_waits_are_device_model_variables(config, store):
    adapter = Ocpp201Adapter(config, store)
    assert adapter.dm.value("SecurityCtrlr", "CertSigningWaitMinimum") == 60
    assert adapter.dm.value("SecurityCtrlr", "CertSigningRepeatTimes") == 3
    assert adapter.dm.value("SecurityCtrlr", "MaxCertificateChainSize") == 10000
    assert check_initial_value("SecurityCtrlr", "CertSigningWaitMinimum", 0) is not None


def test_a_csms_url_names_the_same_endpoint_over_ws_and_wss():
    assert _where("ws://csms.example:8080/ocpp/") == _where("wss://csms.example:8080/ocpp")
    assert _where("wss://csms.example/ocpp") != _where("wss://other.example/ocpp")
    assert _where("wss://csms.example/ocpp") != _where("wss://csms.example/ocpp201")
