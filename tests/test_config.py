"""Station configuration: loading, defaults, --set overrides, and errors a technician can act on.

Every error line reads `{file}:{line}: {key.path}: {what is wrong}; {what is allowed}`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chargerd.config import Config, ConfigError, ConnectorConfig, load_config
from chargerd.ocpp16.keys import check_initial_value

REPO = Path(__file__).resolve().parents[1]

MINIMAL = """\
station:
  id: CP-001
csms:
  url: ws://127.0.0.1:9000/ocpp
connectors:
  - id: 1
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # error lines name the file as given, so tests give the short name "station.yaml"
    monkeypatch.chdir(tmp_path)


def write(text: str | bytes) -> str:
    path = Path("station.yaml")
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return "station.yaml"


def errors(text: str | bytes, overrides: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(text), overrides)
    assert str(caught.value) == "\n".join(caught.value.errors)
    return caught.value.errors


def load(text: str, overrides: tuple[str, ...] = ()) -> Config:
    return load_config(write(text), overrides)


# --- loading ----------------------------------------------------------------------------


def test_sim_yaml_loads() -> None:
    config = load_config(REPO / "config" / "sim.yaml")
    assert config.path == REPO / "config" / "sim.yaml"
    assert config.station.id == "CP-001"
    assert config.csms.url == "ws://127.0.0.1:9000/ocpp"
    assert config.csms.ocpp_version == "1.6"
    assert config.storage_dir == Path("state")
    assert config.control_socket == Path("state/control.sock")
    assert config.hal_driver == "sim"
    assert config.connectors == (
        ConnectorConfig(id=1, max_current_a=32.0, phases=3),
        ConnectorConfig(id=2, max_current_a=32.0, phases=3),
    )
    assert config.ocpp == {"HeartbeatInterval": 300, "MeterValueSampleInterval": 60}


def test_minimal_file_gets_the_defaults() -> None:
    config = load(MINIMAL)
    assert config.path == Path("station.yaml")
    assert config.station.vendor == "chargerd"
    assert config.station.serial is None
    assert config.csms.ocpp_version == "1.6"
    assert config.csms.call_timeout_s == 30.0
    assert config.csms.replay_batch == 100
    assert config.storage_dir == Path("/var/lib/chargerd")
    assert config.storage.max_queue_mb == 64
    assert config.control_socket == Path("/run/chargerd/control.sock")
    assert config.hal_driver == "sim"
    assert config.sim.voltage_v == 230.0
    assert config.connectors == (ConnectorConfig(id=1, max_current_a=32.0, phases=3),)
    assert config.ocpp == {}
    assert config.hard_reset_command is None
    assert config.log_level == "info"


def test_every_key_is_read_into_its_field(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("")
    config = load(
        """\
station: {id: CP-9, vendor: Acme, model: Box, serial: SN1, firmware_version: "2.1"}
csms:
  url: wss://csms.example.com/ocpp
  ocpp_version: "2.0.1"
  password: secret
  ca_file: ca.pem
  call_timeout_s: 10
  reconnect_min_s: 2
  reconnect_max_s: 120
  replay_batch: 1
storage: {dir: data, max_queue_mb: 0.5}
control: {socket: ctl.sock}
hal: {driver: sim}
sim: {voltage_v: 120, ev_max_current_a: 16.5}
connectors:
  - {id: 1, max_current_a: 16, phases: 1}
ocpp:
  OCPPCommCtrlr: {HeartbeatInterval: 60}
reset: {hard_command: systemctl reboot}
log: {level: debug}
"""
    )
    assert config.station.model == "Box"
    assert config.station.firmware_version == "2.1"
    assert config.csms.password == "secret"
    assert config.csms.ca_file == "ca.pem"
    assert config.csms.reconnect_max_s == 120.0
    assert config.csms.replay_batch == 1
    assert config.storage_dir == Path("data")
    assert config.storage.max_queue_mb == 0.5
    assert config.control_socket == Path("ctl.sock")
    assert config.sim.ev_max_current_a == 16.5
    assert config.connectors[0].phases == 1
    assert config.ocpp == {"OCPPCommCtrlr": {"HeartbeatInterval": 60}}
    assert config.hard_reset_command == "systemctl reboot"
    assert config.log_level == "debug"


def test_unquoted_ocpp_version_1_6_is_accepted() -> None:
    config = load(MINIMAL.replace("  url:", "  ocpp_version: 1.6\n  url:"))
    assert config.csms.ocpp_version == "1.6"


def test_relative_storage_dir_stays_relative_to_the_working_directory() -> None:
    config = load(MINIMAL + "storage: {dir: ./state}\n")
    assert config.storage_dir == Path("state")


def test_anchors_and_merge_keys_work() -> None:
    config = load(
        MINIMAL.replace("connectors:\n  - id: 1\n", "")
        + """\
connectors:
  - &fast {id: 1, max_current_a: 16, phases: 1}
  - {<<: *fast, id: 2, phases: 3}
"""
    )
    assert config.connectors == (
        ConnectorConfig(id=1, max_current_a=16.0, phases=1),
        ConnectorConfig(id=2, max_current_a=16.0, phases=3),
    )


# --- error lines ------------------------------------------------------------------------


def test_value_not_among_the_allowed_ones() -> None:
    text = MINIMAL.replace("  url:", "  ocpp_version: '1.9'\n  url:")
    assert errors(text) == [
        "station.yaml:4: csms.ocpp_version: '1.9' is not one of '1.6', '2.0.1'",
    ]


def test_unknown_key_lists_the_allowed_ones_and_suggests_the_closest() -> None:
    text = MINIMAL.replace("  url:", "  pasword: x\n  url:")
    assert errors(text) == [
        "station.yaml:4: csms.pasword: unknown key; allowed: url, ocpp_version, password, "
        "ca_file, security_profile, client_cert, client_key, call_timeout_s, reconnect_min_s, "
        "reconnect_max_s, replay_batch "
        "(did you mean 'password'?)",
    ]


def test_unknown_top_level_key() -> None:
    assert errors(MINIMAL + "logging: {level: info}\n") == [
        "station.yaml:7: logging: unknown key; allowed: station, csms, storage, control, hal, "
        "sim, connectors, display, site, ocpp, auth, security, firmware, reset, log "
        "(did you mean 'log'?)",
    ]


def test_required_key_missing_points_at_its_section() -> None:
    text = MINIMAL.replace("  id: CP-001\n", "  vendor: Acme\n")
    assert errors(text) == ["station.yaml:1: station.id: required key missing"]


def test_empty_file_reports_the_required_sections() -> None:
    assert errors("# nothing yet\n") == [
        "station.yaml:1: station: required key missing",
        "station.yaml:1: csms: required key missing",
        "station.yaml:1: connectors: required key missing",
    ]


def test_connector_phases_not_allowed() -> None:
    text = MINIMAL + "  - id: 2\n    phases: 2\n"
    assert errors(text) == ["station.yaml:8: connectors[1].phases: 2 is not one of 1, 3"]


def test_booleans_are_not_integers() -> None:
    text = MINIMAL.replace("  - id: 1\n", "  - id: true\n    phases: true\n")
    assert errors(text) == [
        "station.yaml:6: connectors[0].id: true is not a whole number; allowed: a whole number ≥ 1",
        "station.yaml:7: connectors[0].phases: true is not one of 1, 3",
    ]


def test_booleans_are_not_numbers() -> None:
    assert errors(MINIMAL + "sim: {voltage_v: yes}\n") == [
        "station.yaml:7: sim.voltage_v: true is not a number; allowed: a number from 100 to 300",
    ]


def test_number_out_of_range() -> None:
    text = MINIMAL + "    max_current_a: 100\n"
    assert errors(text) == [
        "station.yaml:7: connectors[0].max_current_a: 100 is out of range; "
        "allowed: a number from 6 to 80",
    ]


def test_outbox_limits_are_checked() -> None:
    text = MINIMAL.replace("  url:", "  replay_batch: 1001\n  url:")
    assert errors(text + "storage: {max_queue_mb: 0}\n") == [
        "station.yaml:4: csms.replay_batch: 1001 is out of range; "
        "allowed: a whole number from 1 to 1000",
        "station.yaml:8: storage.max_queue_mb: 0 is not above 0; allowed: a number > 0",
    ]
    assert errors(MINIMAL, ("csms.replay_batch=2.5",)) == [
        "--set csms.replay_batch: 2.5 is not a whole number; "
        "allowed: a whole number from 1 to 1000",
    ]


def test_all_errors_are_reported_in_file_order() -> None:
    text = """\
station:
  id: CP 001
csms:
  url: http://csms/ocpp
  call_timeout_s: 0
connectors:
  - id: 1
    phases: 2
log: {level: loud}
"""
    assert errors(text) == [
        "station.yaml:2: station.id: 'CP 001' contains '/', '?', '#' or whitespace; "
        "allowed: 1..48 characters without '/', '?', '#' or whitespace "
        "(it becomes the last segment of the CSMS URL)",
        "station.yaml:4: csms.url: 'http://csms/ocpp' does not start with ws:// or wss://; "
        "allowed: ws://host[:port]/path or wss://host[:port]/path",
        "station.yaml:5: csms.call_timeout_s: 0 is not above 0; allowed: a number > 0",
        "station.yaml:8: connectors[0].phases: 2 is not one of 1, 3",
        "station.yaml:9: log.level: 'loud' is not one of 'debug', 'info', 'warning', 'error'",
    ]


def test_station_id_must_fit_in_a_url_segment() -> None:
    assert errors(MINIMAL.replace("CP-001", "site/CP-001")) == [
        "station.yaml:2: station.id: 'site/CP-001' contains '/', '?', '#' or whitespace; "
        "allowed: 1..48 characters without '/', '?', '#' or whitespace "
        "(it becomes the last segment of the CSMS URL)",
    ]


def test_text_longer_than_ocpp_allows() -> None:
    text = MINIMAL.replace("  id: CP-001\n", "  id: CP-001\n  vendor: Electric Vehicle Supply\n")
    assert errors(text) == [
        "station.yaml:3: station.vendor: 'Electric Vehicle Supply' is 23 characters long; "
        "allowed: text of 1..20 characters",
    ]


def test_a_number_where_text_is_expected_asks_for_quotes() -> None:
    text = MINIMAL.replace("  id: CP-001\n", "  id: CP-001\n  serial: 12345\n")
    assert errors(text) == [
        "station.yaml:3: station.serial: 12345 is a number; "
        "allowed: text of 1..25 characters, in quotes",
    ]


def test_url_needs_a_host() -> None:
    assert errors(MINIMAL.replace("ws://127.0.0.1:9000/ocpp", "ws:///ocpp")) == [
        "station.yaml:4: csms.url: 'ws:///ocpp' has no host; "
        "allowed: ws://host[:port]/path or wss://host[:port]/path",
    ]


def test_ca_file_must_exist() -> None:
    text = MINIMAL.replace("  url:", "  ca_file: /nonexistent/ca.pem\n  url:")
    assert errors(text) == [
        "station.yaml:4: csms.ca_file: '/nonexistent/ca.pem' is not an existing file; "
        "allowed: the path of an existing CA bundle (PEM) file, or null for the system CAs",
    ]


def test_reconnect_max_below_min() -> None:
    text = MINIMAL.replace("  url:", "  reconnect_min_s: 10\n  reconnect_max_s: 5\n  url:")
    assert errors(text) == [
        "station.yaml:5: csms.reconnect_max_s: 5 is below reconnect_min_s (10); "
        "allowed: a number ≥ 10",
    ]


def test_unknown_hal_driver_lists_the_registered_ones() -> None:
    assert errors(MINIMAL + "hal: {driver: rapi9}\n") == [
        "station.yaml:7: hal.driver: 'rapi9' is not one of 'sim'",
    ]


def test_control_socket_path_longer_than_unix_allows() -> None:
    long_path = "/run/" + "x" * 110 + ".sock"
    assert errors(MINIMAL + f"control: {{socket: {long_path}}}\n") == [
        f"station.yaml:7: control.socket: {long_path[:57]!r}... is 120 bytes long; "
        "allowed: at most 107 bytes (a Unix socket limit; use a shorter or relative path)",
    ]


def test_duplicate_key_is_reported() -> None:
    assert errors(MINIMAL + "station: {id: CP-002}\n") == [
        "station.yaml:7: station: duplicate key (first on line 1); allowed: once",
    ]


def test_section_of_the_wrong_type() -> None:
    assert errors(MINIMAL + "storage: /var/lib/x\n") == [
        "station.yaml:7: storage: '/var/lib/x' is not a mapping; "
        "allowed: a mapping with keys dir, max_queue_mb",
    ]


# --- connectors -------------------------------------------------------------------------


def test_connectors_must_be_a_list() -> None:
    text = MINIMAL.replace("connectors:\n  - id: 1\n", "connectors: 5\n")
    assert errors(text) == [
        "station.yaml:5: connectors: 5 is not a list; allowed: a list of connectors, "
        "e.g. - {id: 1, max_current_a: 32, phases: 3}",
    ]


def test_connectors_must_not_be_empty() -> None:
    text = MINIMAL.replace("connectors:\n  - id: 1\n", "connectors: []\n")
    assert errors(text) == [
        "station.yaml:5: connectors: the list is empty; allowed: at least one connector, "
        "e.g. - {id: 1, max_current_a: 32, phases: 3}",
    ]


def test_duplicate_connector_id() -> None:
    assert errors(MINIMAL + "  - id: 1\n") == [
        "station.yaml:7: connectors[1].id: 1 is already used by connectors[0]; "
        "allowed: each id once, numbered 1..2",
    ]


def test_gap_in_connector_ids() -> None:
    assert errors(MINIMAL + "  - id: 3\n") == [
        "station.yaml:7: connectors[1].id: 3 leaves a gap; allowed: ids 1..2 for 2 connectors "
        "(OCPP numbers connectors from 1 without gaps)",
    ]


# --- ocpp: first-start values -------------------------------------------------------------


def test_ocpp16_value_is_checked_by_the_key_table() -> None:
    text = MINIMAL + "ocpp:\n  HeartbeatInterval: often\n"
    expected = check_initial_value("HeartbeatInterval", "often")
    assert expected
    assert errors(text) == [f"station.yaml:8: ocpp.HeartbeatInterval: {expected}"]


def test_ocpp16_unknown_key_is_reported() -> None:
    text = MINIMAL + "ocpp:\n  HeartbeatIntervall: 300\n"
    expected = check_initial_value("HeartbeatIntervall", 300)
    assert expected
    assert errors(text) == [f"station.yaml:8: ocpp.HeartbeatIntervall: {expected}"]


def test_ocpp201_values_are_nested_by_component() -> None:
    text = MINIMAL.replace("  url:", "  ocpp_version: '2.0.1'\n  url:")
    assert errors(text + "ocpp:\n  OCPPCommCtrlr: 60\n") == [
        "station.yaml:9: ocpp.OCPPCommCtrlr: 60 is not a mapping; "
        "allowed: a mapping of variables to values, e.g. {HeartbeatInterval: 300}",
    ]


# --- file and syntax problems ---------------------------------------------------------------


def test_missing_file() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("station.yaml")
    assert caught.value.errors == ["station.yaml: cannot read: No such file or directory"]


def test_directory_instead_of_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    with pytest.raises(ConfigError) as caught:
        load_config("conf")
    assert caught.value.errors == ["conf: cannot read: Is a directory"]


def test_yaml_syntax_error_names_the_parser_line() -> None:
    text = MINIMAL + "ocpp:\n  HeartbeatInterval: 300\n   MeterValueSampleInterval: 60\n"
    assert errors(text) == [
        "station.yaml:9: YAML syntax error: mapping values are not allowed here (column 28)",
    ]


def test_unclosed_quote_names_where_it_started() -> None:
    assert errors('station:\n  id: "CP-001\ncsms: {}\n') == [
        "station.yaml:4: YAML syntax error: found unexpected end of stream (column 1); "
        "while scanning a quoted scalar on line 2",
    ]


def test_top_level_list() -> None:
    assert errors("- station\n- csms\n") == [
        "station.yaml:1: a list is not a mapping; allowed: a mapping with keys station, csms, "
        "storage, control, hal, sim, connectors, display, site, ocpp, auth, security, firmware, "
        "reset, log",
    ]


# each line holds ten of the line before: a million values from six short lines
ALIAS_BOMB = """\
a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
"""


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",
        b"station:\x00 {}\n",
        "plain words\n",
        "connectors: 5\n",
        "station: [1, 2]\ncsms: {url: [ws]}\nconnectors: [[1], 2, {id: {a: 1}}]\nocpp: x\n",
        "station: {id: !!int x}\ncsms: !!binary '*'\nconnectors: {? [1]: 2}\n",
        "a: &a [*a]\n",
        "a: &a {<<: *a}\n",
        ALIAS_BOMB,
        "[" * 100 + "]" * 100,
        "- " * 1000 + "x\n",
        "station: {id: 1}\n---\nstation: {id: 2}\n",
        "\t- x\n",
    ],
)
def test_garbage_gives_errors_not_a_traceback(garbage: str | bytes) -> None:
    lines = errors(garbage)
    assert lines
    assert all(line.startswith("station.yaml") for line in lines)


# --- overrides (--set) --------------------------------------------------------------------


def test_override_replaces_a_value() -> None:
    config = load(MINIMAL, ("csms.url=ws://127.0.0.1:9100/ocpp", "storage.dir=/tmp/x"))
    assert config.csms.url == "ws://127.0.0.1:9100/ocpp"
    assert config.storage_dir == Path("/tmp/x")


def test_override_creates_missing_mappings() -> None:
    config = load(MINIMAL, ("ocpp.HeartbeatInterval=10", "reset.hard_command=reboot"))
    assert config.ocpp == {"HeartbeatInterval": 10}
    assert config.hard_reset_command == "reboot"


def test_override_indexes_lists_from_zero() -> None:
    config = load(MINIMAL + "  - id: 2\n", ("connectors.1.max_current_a=16",))
    assert config.connectors[0].max_current_a == 32.0
    assert config.connectors[1].max_current_a == 16.0


def test_override_value_is_validated_and_blamed_on_set() -> None:
    assert errors(MINIMAL, ("csms.ocpp_version='1.9'", "connectors.0.phases=2")) == [
        "--set csms.ocpp_version: '1.9' is not one of '1.6', '2.0.1'",
        "--set connectors[0].phases: 2 is not one of 1, 3",
    ]


def test_override_fixes_an_error_in_the_file() -> None:
    config = load(MINIMAL.replace("CP-001", "CP 001"), ("station.id=CP-7",))
    assert config.station.id == "CP-7"


def test_override_with_an_unknown_key() -> None:
    assert errors(MINIMAL, ("csms.pasword=x",)) == [
        "--set csms.pasword: unknown key; allowed: url, ocpp_version, password, ca_file, "
        "security_profile, client_cert, client_key, call_timeout_s, reconnect_min_s, "
        "reconnect_max_s, replay_batch (did you mean 'password'?)",
    ]


def test_malformed_overrides() -> None:
    form = "allowed: dotted.key=value, e.g. csms.url=ws://127.0.0.1:9000/ocpp"
    assert errors(
        MINIMAL, ("csms.url", "=5", "csms..url=x", "station.id.x=1", "connectors.x=1")
    ) == [
        f"--set csms.url: missing '='; {form}",
        f"--set =5: empty key; {form}",
        f"--set csms..url=x: empty part in key 'csms..url'; {form}",
        "--set station.id.x: station.id is 'CP-001', which has no 'x'; "
        "allowed: keys inside mappings, 0-based indexes inside lists",
        "--set connectors.x: 'x' is not an index of connectors; allowed: 0..0 (counted from 0)",
    ]


def test_override_index_out_of_range() -> None:
    assert errors(MINIMAL, ("connectors.1.phases=1",)) == [
        "--set connectors.1.phases: '1' is not an index of connectors; "
        "allowed: 0..0 (counted from 0)",
    ]


def test_malformed_override_is_reported_with_an_unreadable_file() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("missing.yaml", ("csms.url",))
    assert caught.value.errors == [
        "missing.yaml: cannot read: No such file or directory",
        "--set csms.url: missing '='; "
        "allowed: dotted.key=value, e.g. csms.url=ws://127.0.0.1:9000/ocpp",
    ]
