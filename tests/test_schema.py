"""chargerd.schema decides like jsonschema's Draft4Validator, on every OCPP schema of the
installed `ocpp` package, and the daemon runs without importing jsonschema.

For every request and response schema of 1.6 and 2.0.1, hypothesis builds instances from
the schema itself: a valid one, then the same with one mutation (a wrong type, a missing
required field, an extra field, a too-long string, a value outside an enum, too many or too
few items, a number out of range or off its step). Both validators must give the same
verdict and the same first violation (keyword, path and, outside the decimal schedules,
message); the keyword is what rpc turns into the CALLERROR code.
"""

from __future__ import annotations

import asyncio
import copy
import decimal
import functools
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ocpp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator

from chargerd import schema
from chargerd.rpc import OCPP16, SCHEMA_ERROR_KINDS, _Refusal, check_payload
from devcsms import Csms, Csms201

ROOT = Path(__file__).resolve().parents[1]
OCPP_DIR = Path(ocpp.__file__).parent
FILES = sorted((OCPP_DIR / "v16" / "schemas").glob("*.json")) + sorted(
    (OCPP_DIR / "v201" / "schemas").glob("*.json")
)
# the 1.6 schedules whose limits are `multipleOf 0.1`: until chargerd.schema, rpc validated
# them with jsonschema on Decimals (a JSON round trip), so that 11.1 passes
DECIMAL_16 = {"SetChargingProfile", "RemoteStartTransaction", "GetCompositeScheduleResponse"}
EXAMPLES = settings(
    max_examples=5,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
WAIT_S = 10.0
NUMERIC = {"minimum", "maximum", "multipleOf"}


def read(path: Path, parse_float: Callable[[str], Any] = float) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8-sig"), parse_float=parse_float)


def is_decimal(path: Path) -> bool:
    return path.parent.parent.name == "v16" and path.stem in DECIMAL_16


class Reference:
    """jsonschema's verdict on one schema file, the way rpc used to ask for it."""

    def __init__(self, path: Path):
        self.decimal = is_decimal(path)
        self.validator = Draft4Validator(read(path, decimal.Decimal if self.decimal else float))

    def errors(self, instance: Any) -> list[Any]:
        if self.decimal:
            instance = json.loads(json.dumps(instance), parse_float=decimal.Decimal)
        return list(self.validator.iter_errors(instance))


# --- instances built from a schema ---------------------------------------------------------------


def resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = root["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node


def bounded(node: dict[str, Any], root: dict[str, Any], seen: frozenset[str] = frozenset()) -> bool:
    """Whether a number with minimum, maximum or multipleOf is in `node` or below it."""
    if "$ref" in node:
        name = node["$ref"]
        return name not in seen and bounded(resolve(node, root), root, seen | {name})
    if NUMERIC & node.keys():
        return True
    below = [*node.get("properties", {}).values(), *([node["items"]] if "items" in node else [])]
    return any(bounded(sub, root, seen) for sub in below)


def valid(
    node: dict[str, Any], root: dict[str, Any], to_bounds: bool = False, depth: int = 0
) -> st.SearchStrategy[Any]:
    """Valid instances of `node`; `to_bounds`: with every optional property and an array
    item on the way to a bounded number (they sit deep in optional parts, such as a DC
    charging parameter's stateOfCharge)."""
    node = resolve(node, root)
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind == "object":
        props = node.get("properties", {})
        required = set(node.get("required", []))
        always = {k for k, v in props.items() if k in required or (to_bounds and bounded(v, root))}
        return st.fixed_dictionaries(
            {k: valid(v, root, to_bounds, depth + 1) for k, v in props.items() if k in always},
            optional={
                k: valid(v, root, False, depth + 1)
                for k, v in props.items()
                if k not in always and depth < 6
            },
        )
    if kind == "array":
        least = max(node.get("minItems", 0), 1 if to_bounds else 0)
        most = min(node.get("maxItems", least + 2), least + 2)
        items = valid(node["items"], root, to_bounds, depth + 1)
        return st.lists(items, min_size=least, max_size=most)
    if kind == "string":
        longest = node.get("maxLength", 20)
        # maxLength counts code points: a string of astral characters at the limit is valid
        return st.text(max_size=min(longest, 12)) | st.just("😀" * longest)
    if kind == "boolean":
        return st.booleans()
    low, high = node.get("minimum", -(10**6)), node.get("maximum", 10**6)
    if kind == "integer":
        return st.integers(int(low), int(high))
    if "multipleOf" in node:  # tenths, written as JSON writes them: 11.1
        return st.integers(int(low * 10), int(high * 10)).map(lambda n: n / 10)
    finite = st.floats(low, high, allow_nan=False, allow_infinity=False)
    return st.integers(int(low), int(high)) | finite


WRONG_TYPE = {
    "string": [5, None, ["a"]],
    "integer": [1.0, True, "1", 1.5],  # Draft 4: 1.0 is not an integer
    "number": [True, "1.5", None],
    "boolean": [1, "true", 0],
    "object": [[], "x", 7],
    "array": [{}, "x"],
}

Mutation = tuple[str, tuple[Any, ...], Callable[[Any], Any]]  # name, path, new value from old


def mutations(
    value: Any, node: dict[str, Any], root: dict[str, Any], path: tuple[Any, ...] = ()
) -> Iterator[Mutation]:
    """Every single change of `value` that breaks one keyword of its schema."""
    node = resolve(node, root)
    kind = node.get("type")
    for wrong in WRONG_TYPE.get(kind, []):
        yield "type", path, lambda _, wrong=wrong: copy.deepcopy(wrong)
    if "enum" in node:
        yield "enum", path, lambda _: "NotOneOfThem"
    if kind == "string" and "maxLength" in node:
        yield "maxLength", path, lambda _, n=node["maxLength"]: "x" * (n + 1)
    if kind in ("integer", "number"):
        if "minimum" in node:
            low = int(node["minimum"]) if kind == "integer" else node["minimum"]
            yield "minimum", path, lambda _, low=low: low - 1
        if "maximum" in node:
            yield "maximum", path, lambda _, high=node["maximum"]: high + 1
        if "multipleOf" in node:
            yield "multipleOf", path, lambda old: round(old + 0.05, 2)
    if kind == "object" and isinstance(value, dict):
        for name in node.get("required", []):
            yield "required", path, lambda old, name=name: without(old, name)
        if node.get("additionalProperties") is False:
            yield "additionalProperties", path, lambda old: {**old, "colour": "red"}
        for name, sub in node.get("properties", {}).items():
            if name in value:
                yield from mutations(value[name], sub, root, (*path, name))
    if kind == "array" and isinstance(value, list):
        if node.get("minItems", 0) >= 1:
            yield "minItems", path, lambda old, n=node["minItems"]: old[: n - 1]
        if "maxItems" in node and value:
            yield "maxItems", path, lambda old, n=node["maxItems"]: (old * (n + 1))[: n + 1]
        for index, item in enumerate(value):
            yield from mutations(item, node["items"], root, (*path, index))


def without(value: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k != name}


def mutate(value: Any, mutation: Mutation) -> Any:
    _, path, change = mutation
    if not path:
        return change(value)
    changed = copy.deepcopy(value)
    parent = changed
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = change(parent[path[-1]])
    return changed


# --- the same verdicts as jsonschema -------------------------------------------------------------


def assert_same_verdict(ours: schema.Validator, reference: Reference, instance: Any) -> None:
    errors = reference.errors(instance)
    found = ours.first_violation(instance)
    if not errors:
        assert found is None, (instance, found)
        return
    assert found is not None, (instance, errors[0].message)
    first = errors[0]
    assert (found.keyword, found.path) == (first.validator, tuple(first.absolute_path))
    if not reference.decimal:  # the reference's numbers are Decimals there: Decimal('1.5')
        assert found.message == first.message
    if len(errors) == 1:  # exactly one violation: the CALLERROR kind rpc sends
        kind = SCHEMA_ERROR_KINDS.get(found.keyword, "property")
        assert kind == SCHEMA_ERROR_KINDS.get(str(first.validator), "property")


def schema_id(path: Path) -> str:
    return f"{path.parent.parent.name}/{path.stem}"


@functools.cache
def compiled(path: Path) -> tuple[dict[str, Any], schema.Validator, Reference]:
    return read(path), schema.load(path), Reference(path)


def check_against_jsonschema(
    path: Path, data: st.DataObject, to_bounds: bool = False, kinds: set[str] | None = None
) -> None:
    """A valid instance of the schema, then the same with one mutation of `kinds`."""
    document, ours, reference = compiled(path)
    instance = data.draw(valid(document, document, to_bounds), label="valid")
    assert reference.errors(instance) == [], "the generator built an invalid instance"
    assert ours.first_violation(instance) is None

    changes: dict[str, list[Mutation]] = {}
    for change in mutations(instance, document, document):
        if kinds is None or change[0] in kinds:
            changes.setdefault(change[0], []).append(change)
    assert changes or kinds is None, f"nothing to break among {kinds}"
    if changes:  # each kind of mutation as likely as the others, then any of its places
        kind = data.draw(st.sampled_from(sorted(changes)), label="kind")
        change = data.draw(st.sampled_from(changes[kind]), label="mutation")
        broken = mutate(instance, change)
        assert reference.errors(broken), f"{change[0]} at {change[1]} broke nothing"
        assert_same_verdict(ours, reference, broken)


@pytest.mark.parametrize("path", FILES, ids=schema_id)
@EXAMPLES
@given(data=st.data())
def test_every_ocpp_schema_gives_jsonschemas_verdict(path: Path, data: st.DataObject) -> None:
    check_against_jsonschema(path, data)


WITH_BOUNDS = [p for p in FILES if any(f'"{k}"' in p.read_text("utf-8-sig") for k in NUMERIC)]


@pytest.mark.parametrize("path", WITH_BOUNDS, ids=schema_id)
@EXAMPLES
@given(data=st.data())
def test_numbers_out_of_range_or_off_their_step_get_jsonschemas_verdict(
    path: Path, data: st.DataObject
) -> None:
    check_against_jsonschema(path, data, to_bounds=True, kinds=NUMERIC)


def test_every_schema_with_multiple_of_is_one_of_the_decimal_schedules() -> None:
    """A new ocpp release with multipleOf elsewhere: decide here how rpc checks it."""
    with_step = {p for p in FILES if '"multipleOf"' in p.read_text(encoding="utf-8-sig")}
    assert with_step == {p for p in FILES if is_decimal(p)}


# --- decimal steps, numbers and enums ------------------------------------------------------------


def schedule(limit: Any) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 1, "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
            "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": limit}]},
        },
    }  # fmt: skip


@pytest.mark.parametrize("limit", [11.1, 0.3, 16, 7.0, 1e22, 123456789012345678901.1])
def test_a_limit_written_in_tenths_is_a_multiple_of_0_1(limit: float) -> None:
    check_payload(OCPP16, "SetChargingProfile", schedule(limit), response=False)


@pytest.mark.parametrize("limit", [11.15, 0.01, 1e-7, float("nan"), float("inf")])
def test_a_limit_off_the_tenths_is_a_property_constraint_violation(limit: float) -> None:
    with pytest.raises(_Refusal) as refused:
        check_payload(OCPP16, "SetChargingProfile", schedule(limit), response=False)
    assert refused.value.kind == "property"
    path = "csChargingProfiles/chargingSchedule/chargingSchedulePeriod/0/limit"
    assert refused.value.description == f"{path}: {limit!r} is not a multiple of 0.1"


SYNTHETIC = {
    "type": "object",
    "properties": {
        "count": {"type": "integer", "minimum": 0, "maximum": 10},
        "ratio": {"type": "number"},
        "flag": {"type": "boolean"},
        "any": {"enum": [1, "one", None, [1, 2], {"a": True}]},
        "either": {"type": ["string", "null"], "maxLength": 2},
    },
}


@pytest.mark.parametrize(
    "instance",
    [
        {"count": 1.0}, {"count": True}, {"count": 3}, {"count": -1}, {"count": 11},
        {"ratio": True}, {"ratio": 1}, {"ratio": 0.5}, {"ratio": decimal.Decimal("0.5")},
        {"flag": 1}, {"flag": False},
        {"any": 1.0}, {"any": True}, {"any": "one"}, {"any": None}, {"any": [1.0, 2]},
        {"any": [True, 2]}, {"any": {"a": 1}}, {"any": {"a": True}}, {"any": 2},
        {"either": None}, {"either": "abc"}, {"either": "😀😀"}, {"either": 3},
    ],
)  # fmt: skip
def test_numbers_booleans_and_enums_compare_as_jsonschema_compares_them(instance: Any) -> None:
    ours = schema.compile_schema(SYNTHETIC).first_violation(instance)
    errors = list(Draft4Validator(SYNTHETIC).iter_errors(instance))
    assert (ours is None) == (not errors)
    if errors:
        assert ours is not None
        assert (ours.keyword, ours.path, ours.message) == (
            errors[0].validator, tuple(errors[0].absolute_path), errors[0].message,
        )  # fmt: skip


@pytest.mark.parametrize(
    "unknown",
    [
        {"type": "string", "pattern": "^[A-Z]+$"},
        {"type": "integer", "minimum": 0, "exclusiveMinimum": True},
        {"type": "array", "items": [{"type": "string"}]},
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"type": "object", "properties": {"a": {"oneOf": [{"type": "string"}]}}},
        {"$ref": "#/definitions/Missing"},
        {"type": "object", "definitions": {"Unused": {"type": "string", "minLength": 1}}},
        {"type": "datetime"},
    ],
)
def test_a_keyword_the_validator_does_not_know_fails_the_compilation(unknown: Any) -> None:
    with pytest.raises(schema.SchemaUnsupported):
        schema.compile_schema(unknown)


def test_a_recursive_definition_is_followed() -> None:
    tree = {
        "$ref": "#/definitions/Node",
        "definitions": {"Node": {
            "type": "object", "additionalProperties": False,
            "properties": {"children": {"type": "array", "items": {"$ref": "#/definitions/Node"}}},
        }},
    }  # fmt: skip
    deep = {"children": [{"children": [{"children": []}, {"leaf": 1}]}]}
    found = schema.compile_schema(tree).first_violation(deep)
    assert found is not None
    assert (found.keyword, found.path) == ("additionalProperties", ("children", 0, "children", 1))


# --- the daemon runs without jsonschema ----------------------------------------------------------

DAEMON = """
import asyncio, json, sys
from pathlib import Path
import yaml
import chargerd.rpc
HEAVY = ("jsonschema", "referencing", "rpds", "ocpp.messages")
def heavy():
    return sorted(m for m in sys.modules if m.split(".")[0] in HEAVY or m == "ocpp.messages")
after_import = heavy()
from chargerd.config import load_config
from chargerd.daemon import Daemon
from hal.registry import build_hardware

async def main(url, version, directory):
    path = Path(directory) / "station.yaml"
    path.write_text(yaml.safe_dump({
        "station": {"id": "CP-SCHEMA", "vendor": "v", "model": "m"},
        "csms": {"url": url, "ocpp_version": version, "call_timeout_s": 2,
                 "reconnect_min_s": 0.05, "reconnect_max_s": 0.3},
        "storage": {"dir": str(Path(directory) / "state")},
        "control": {"socket": str(Path(directory) / "ctl.sock")},
        "hal": {"driver": "sim"},
        "connectors": [{"id": 1, "max_current_a": 32, "phases": 3}],
    }))
    config = load_config(path)
    hardware = await build_hardware(config)
    daemon = Daemon(config, hardware)
    running = asyncio.create_task(daemon.run())
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    print(json.dumps({"after_import": after_import, "after_running": heavy()}), flush=True)
    daemon.stop()
    await running
    await hardware.close()

asyncio.run(main(*sys.argv[1:]))
"""
# a request of each version that the daemon validates (SetChargingProfile: a decimal step)
REQUESTS = {
    "1.6": ("SetChargingProfile", {**schedule(11.1), "connectorId": 0, "csChargingProfiles": {
        **schedule(11.1)["csChargingProfiles"], "chargingProfilePurpose": "ChargePointMaxProfile",
    }}),
    "2.0.1": ("GetVariables", {"getVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}),
}  # fmt: skip


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_the_daemon_validates_without_importing_jsonschema(
    version: str, tmp_path: Path
) -> None:
    """The daemon in-process (in a fresh interpreter: this one has imported jsonschema),
    against the dev CSMS: booted, its requests validated, and jsonschema never imported."""
    async with Csms201() if version == "2.0.1" else Csms() as csms:
        daemon = await asyncio.create_subprocess_exec(
            sys.executable, "-c", DAEMON, csms.url, version, str(tmp_path), cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await csms.wait_for("BootNotification", WAIT_S)
            await csms.wait_for("StatusNotification", WAIT_S)
            action, payload = REQUESTS[version]
            answer = await csms.call("CP-SCHEMA", action, payload)
            assert answer.get("status", "Accepted") == "Accepted", answer
            assert daemon.stdin is not None
            daemon.stdin.write(b"report\n")
            out, err = await asyncio.wait_for(daemon.communicate(), WAIT_S)
        finally:
            if daemon.returncode is None:
                daemon.kill()
                await daemon.wait()
    assert daemon.returncode == 0, err.decode()
    report = json.loads(out.decode().strip().splitlines()[-1])
    assert report == {"after_import": [], "after_running": []}
    assert csms.ledger.violations == []
