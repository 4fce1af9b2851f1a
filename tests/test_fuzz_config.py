"""Fuzzing the configuration loader with broken versions of the shipped YAML files.

Property: `load_config` returns a Config or raises ConfigError whose every line reads
`FILE:LINE: ...` or `FILE: ...` (`--set KEY: ...` for overrides) — never any other
exception; `chargerd check-config` exits 0 or 78 and prints no traceback.

The mutations: on the parsed document (delete, duplicate, rename or retype a key or list
item, random scalars, random sub-trees), then on the text (delete, duplicate or swap lines,
insert YAML fragments and random text, re-indent, truncate), and random text from scratch.
The main properties leave out what the tests at the end show to crash the loader (whole
numbers beyond a float's range, lone surrogates, line breaks inside keys); each of those
has its own test.
"""

from __future__ import annotations

import contextlib
import copy
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from chargerd.config import Config, ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]
BASE_FILES = [ROOT / "config" / "sim.yaml", ROOT / "config" / "sim-wire.yaml"] + sorted(
    (ROOT / "config" / "examples").glob("*.yaml")
)
BASE_TEXTS = {path.name: path.read_text() for path in BASE_FILES}
BASE_DOCS = {name: yaml.safe_load(text) for name, text in BASE_TEXTS.items()}
EXIT_CONFIG = 78
FILE_LINE = re.compile(r"^(\S+:\d+|\S+): ")
SET_LINE = re.compile(r"^--set \S.*?: ")
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --------------------------------------------------------------------------- strategies

# Keys without line breaks, numbers a float can hold: see the tests at the end for why.
keys = st.text(st.characters(exclude_characters="\r\n\x85\u2028\u2029"), max_size=20)
known_keys = st.sampled_from(
    ["station", "csms", "url", "id", "connectors", "max_current_a", "phases", "driver", "port",
     "unit", "model", "ocpp", "HeartbeatInterval", "storage", "dir", "control", "socket", "hal",
     "sim", "wire", "log", "level", "reset", "hard_command", "<<", "modules", "host"]
)  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**300), max_value=10**300),
    st.integers(min_value=-100, max_value=300),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(["1.6", "2.0.1", "ws://127.0.0.1:9000/ocpp", "wss://x/ocpp", "/dev/ttyUSB0",
                     "sim", "rapi", "modbus", "infy", "sdm630", "debug", "", "CP-1", "a" * 60]),
)  # fmt: skip
trees = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(keys | known_keys, inner, max_size=4)
    ),
    max_leaves=12,
)
YAML_BITS = [
    "&a ", "*a", "<<: *a", "<<: [*a]", "!!int x", "!!float", "!!binary AAAA", "!!set {a}",
    "!!python/object:os.system ls", "? [a, b]\n: c", "[", "]", "{", "}", "- ", "\t", ": ", "---",
    "...", "%YAML 1.1\n---", "~", "0x1F", "0o17", "1_000", "2001-12-14", ".inf", ".nan", "yes",
    "on", "'quoted'", '"\\x00"', "|\n  block", ">-\n  folded", "# comment", "@", "`", "!", "%",
    "\ufeff", "\x00", "\x85", "a: b: c", "- - -", "{a: [b, {c: d}]}",
]  # fmt: skip


def _paths(node: Any, here: tuple = ()) -> Iterator[tuple]:
    """Paths (tuples of keys / indexes) to every node of a document."""
    yield here
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*here, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*here, index))


def _get(doc: Any, path: tuple) -> Any:
    for part in path:
        doc = doc[part]
    return doc


@st.composite
def mutated_documents(draw: st.DrawFn) -> Any:
    doc: Any = copy.deepcopy(BASE_DOCS[draw(st.sampled_from(sorted(BASE_DOCS)))])
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        how = draw(st.sampled_from(["delete", "duplicate", "rename", "retype", "scalar", "add"]))
        if not path:  # the whole document
            if how in ("retype", "scalar"):
                doc = draw(trees if how == "retype" else scalars)
            continue
        parent, last = _get(doc, path[:-1]), path[-1]
        if how == "delete":
            del parent[last]
        elif how == "duplicate":
            if isinstance(parent, list):
                parent.insert(last, copy.deepcopy(parent[last]))
            else:
                parent[f"{last}"[:10] + draw(st.sampled_from(["", "_", "2"]))] = copy.deepcopy(
                    parent[last]
                )
        elif how == "rename" and isinstance(parent, dict):
            parent[draw(keys | known_keys)] = parent.pop(last)
        elif how == "retype":
            parent[last] = draw(trees)
        elif how == "scalar":
            parent[last] = draw(scalars)
        elif how == "add" and isinstance(parent[last], dict):
            parent[last][draw(keys | known_keys)] = draw(trees)
        elif how == "add" and isinstance(parent[last], list):
            parent[last].append(draw(trees))
    return doc


@st.composite
def mutated_texts(draw: st.DrawFn) -> str:
    """A base file (or a mutated document dumped) with its text broken further."""
    if draw(st.booleans()):
        text = BASE_TEXTS[draw(st.sampled_from(sorted(BASE_TEXTS)))]
    else:
        text = yaml.safe_dump(draw(mutated_documents()), sort_keys=False, allow_unicode=True)
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 5))):
        if not lines:
            lines = [""]
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["delete", "duplicate", "swap", "bit", "text", "indent", "cut"]))
        if how == "delete":
            del lines[i]
        elif how == "duplicate":
            lines.insert(i, lines[i])
        elif how == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif how == "bit":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.sampled_from(YAML_BITS)) + lines[i][at:]
        elif how == "text":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.text(max_size=10)) + lines[i][at:]
        elif how == "indent":
            lines[i] = " " * draw(st.integers(0, 6)) + lines[i].lstrip()
        else:
            lines = lines[:i]
    return "\n".join(lines)


random_texts = st.text(max_size=300) | st.lists(
    st.sampled_from(YAML_BITS) | st.text(max_size=8), max_size=20
).map("".join)


# --------------------------------------------------------------------------- the oracle


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="fuzz-config-") as name:
        yield Path(name)


def check_load(path: Path, overrides: list[str] | tuple[str, ...] = ()) -> Config | None:
    """load_config gives a Config or a well-formed ConfigError (anything else propagates)."""
    try:
        config = load_config(path, overrides)
    except ConfigError as exc:
        assert exc.errors, "a ConfigError without lines"
        for line in re.split(r"[\r\n]", str(exc)):
            if line.startswith("--set "):
                assert SET_LINE.match(line), f"not `--set KEY: ...`: {line!r}"
            else:
                assert FILE_LINE.match(line), f"not `FILE:LINE: ...`: {line!r}"
                assert line.startswith(str(path)), f"does not name the file: {line!r}"
        _event("ConfigError" if len(exc.errors) == 1 else "ConfigError, several lines")
        return None
    assert isinstance(config, Config)
    _event("Config")
    return config


def _event(name: str) -> None:
    """hypothesis.event, also usable from the plain (non-hypothesis) tests below."""
    with contextlib.suppress(InvalidArgument):
        event(name)


def write(workdir: Path, text: str | bytes, name: str = "station.yaml") -> Path:
    path = workdir / name
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


# --------------------------------------------------------------------------- properties


def test_the_shipped_files_load(workdir: Path) -> None:
    for path in BASE_FILES:
        assert isinstance(load_config(path), Config), path


@FUZZ
@given(doc=mutated_documents())
def test_mutated_documents_load_or_fail_with_file_line_errors(workdir: Path, doc: Any) -> None:
    check_load(write(workdir, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)))


@FUZZ
@given(text=mutated_texts())
def test_broken_texts_load_or_fail_with_file_line_errors(workdir: Path, text: str) -> None:
    check_load(write(workdir, text))


@FUZZ
@given(text=random_texts | st.binary(max_size=200))
def test_random_text_and_bytes_fail_with_file_line_errors(workdir: Path, text: str | bytes):
    check_load(write(workdir, text))


# Printable: see test_a_control_character_in_an_override_keeps_one_line_per_problem.
printable = st.characters(exclude_categories=["Cc", "Cs", "Zl", "Zp"])
override_keys = st.lists(
    known_keys | st.sampled_from(["0", "1", "9", ""]) | st.text(printable, max_size=12), max_size=4
).map(".".join)
override_values = st.one_of(
    scalars.map(lambda v: yaml.safe_dump(v, default_flow_style=True).removesuffix("\n...\n")),
    st.sampled_from([bit for bit in YAML_BITS if bit.isprintable()]),
    st.text(printable, max_size=20),
).map(lambda v: v.replace("\n", " "))
overrides = st.lists(
    st.builds(lambda k, v: f"{k}={v}", override_keys, override_values)
    | override_keys
    | st.sampled_from(["connectors.0.phases=1", "csms.url=ws://h/ocpp", "connectors.5.id=2"]),
    max_size=4,
)


@FUZZ
@given(name=st.sampled_from(sorted(BASE_TEXTS)), sets=overrides)
def test_random_overrides_fail_with_set_errors(workdir: Path, name: str, sets: list[str]):
    check_load(write(workdir, BASE_TEXTS[name]), sets)


@settings(max_examples=8, deadline=None, database=None)
@given(text=mutated_texts())
def test_check_config_exits_0_or_78_without_a_traceback(workdir: Path, text: str) -> None:
    path = write(workdir, text, "cli.yaml")
    result = subprocess.run(
        [sys.executable, "-m", "chargerd", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=workdir,
    )
    assert result.returncode in (0, EXIT_CONFIG), result
    assert "Traceback" not in result.stderr, result.stderr
    if result.returncode == EXIT_CONFIG:
        for line in result.stderr.splitlines():
            assert FILE_LINE.match(line), line


# --------------------------------------------------------------------------- found by fuzzing


def _sim_with(old: str, new: str) -> str:
    text = BASE_TEXTS["sim.yaml"]
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    "old, new",
    [
        ("max_current_a: 32 ", "max_current_a: 1" + "0" * 400 + " "),
        ("password: null", "password: null\n  reconnect_min_s: 1" + "0" * 400),
        ("voltage_v: 230", "voltage_v: 0x" + "F" * 300),
    ],
    ids=["max_current_a", "reconnect_min_s", "voltage_v"],
)
def test_a_whole_number_beyond_a_float_is_a_config_error(workdir: Path, old: str, new: str):
    """config._as_number calls math.isfinite(value): OverflowError for such an int."""
    check_load(write(workdir, _sim_with(old, new)))


@pytest.mark.parametrize(
    "old, new",
    [
        ("  - id: 2", "  - id: 0x" + "F" * 4000),
        ("  - id: 2\n", "    meter: {driver: modbus, model: sdm630, unit: 1, port: 0x"
         + "F" * 4000 + "}\n  - id: 2\n"),
    ],
    ids=["connector id", "meter port"],
)  # fmt: skip
def test_a_whole_number_too_long_to_print_is_a_config_error(workdir: Path, old: str, new: str):
    """A hex number of thousands of digits is read; writing it in the message (str/repr:
    int max str digits) raises ValueError."""
    check_load(write(workdir, _sim_with(old, new)))


def test_a_lone_surrogate_in_the_socket_path_is_a_config_error(workdir: Path) -> None:
    """config._socket_path: os.fsencode raises UnicodeEncodeError."""
    text = _sim_with("socket: ./state/control.sock", 'socket: "./\\ud800.sock"')
    check_load(write(workdir, text))


def test_check_config_of_a_url_with_a_lone_surrogate_exits_78(workdir: Path) -> None:
    """The loader accepts the URL; check-config then dies printing it (UnicodeEncodeError)."""
    path = write(workdir, _sim_with("url: ws://127.0.0.1:9000/ocpp", 'url: "ws://h\\ud800/ocpp"'))
    result = subprocess.run(
        [sys.executable, "-m", "chargerd", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == EXIT_CONFIG, result


def test_a_line_break_in_a_key_keeps_one_line_per_problem(workdir: Path) -> None:
    """Key paths are written as they are: a key with a line break splits its error line."""
    check_load(write(workdir, BASE_TEXTS["sim.yaml"] + '\n"bad\\nkey": 1\n'))


def test_a_control_character_in_an_override_keeps_one_line_per_problem(workdir: Path) -> None:
    """config._parse_override puts str(yaml.reader.ReaderError) (two lines) in its message."""
    check_load(write(workdir, BASE_TEXTS["sim.yaml"]), ["csms.url=\x1f"])
