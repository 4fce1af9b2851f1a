"""`ocpp:` first-start values of OCPP configuration: flat `Key: value` for 1.6 (checked by
the 1.6 key table), `Component: {Variable: value}` for 2.0.1 (checked by the device model).

A block written in the other version's form (the usual slip when switching
`csms.ocpp_version`) is answered with the same block in the right form, as far as the
keys have a counterpart.
"""

from __future__ import annotations

from typing import Any

import yaml

from .schema import Found, Section, mapping
from .source import Node, Problem, join, plain, show

# OCPP 1.6 configuration key → the OCPP 2.0.1 (component, variable) that means the same.
# tests/test_config_ocpp.py checks every pair against both of the station's tables.
TO_201: dict[str, tuple[str, str]] = {
    "HeartbeatInterval": ("OCPPCommCtrlr", "HeartbeatInterval"),
    "WebSocketPingInterval": ("OCPPCommCtrlr", "WebSocketPingInterval"),
    "ResetRetries": ("OCPPCommCtrlr", "ResetRetries"),
    "TransactionMessageAttempts": ("OCPPCommCtrlr", "MessageAttempts"),
    "TransactionMessageRetryInterval": ("OCPPCommCtrlr", "MessageAttemptInterval"),
    "MeterValueSampleInterval": ("SampledDataCtrlr", "TxUpdatedInterval"),
    "MeterValuesSampledData": ("SampledDataCtrlr", "TxUpdatedMeasurands"),
    "StopTxnSampledData": ("SampledDataCtrlr", "TxEndedMeasurands"),
    "ClockAlignedDataInterval": ("AlignedDataCtrlr", "Interval"),
    "MeterValuesAlignedData": ("AlignedDataCtrlr", "Measurands"),
    "StopTxnAlignedData": ("AlignedDataCtrlr", "TxEndedMeasurands"),
    "ConnectionTimeOut": ("TxCtrlr", "EVConnectionTimeOut"),
    "StopTransactionOnEVSideDisconnect": ("TxCtrlr", "StopTxOnEVSideDisconnect"),
    "StopTransactionOnInvalidId": ("TxCtrlr", "StopTxOnInvalidId"),
    "MaxEnergyOnInvalidId": ("TxCtrlr", "MaxEnergyOnInvalidId"),
    "LocalPreAuthorize": ("AuthCtrlr", "LocalPreAuthorize"),
    "LocalAuthorizeOffline": ("AuthCtrlr", "LocalAuthorizeOffline"),
    "AuthorizeRemoteTxRequests": ("AuthCtrlr", "AuthorizeRemoteStart"),
    "AllowOfflineTxForUnknownId": ("AuthCtrlr", "OfflineTxForUnknownIdEnabled"),
    "AuthorizationCacheEnabled": ("AuthCacheCtrlr", "Enabled"),
}
# the 2.0.1 names are matched case-insensitively, as the device model does
TO_16: dict[tuple[str, str], str] = {
    (component.casefold(), variable.casefold()): key
    for key, (component, variable) in TO_201.items()
}

_SCALAR = "a number, text or true/false"


def _flow(value: object) -> str:
    """A value as one line of YAML, to copy into the file."""
    dumped = yaml.safe_dump(
        value, default_flow_style=True, sort_keys=False, width=10**6, allow_unicode=True
    )
    return dumped.strip().removesuffix("...").strip()


def _key_16(component: str, variable: str) -> str | None:
    """The 1.6 key of a 2.0.1 entry; `Component:instance/evse` and `Variable:instance`
    name the same variable as far as 1.6 is concerned."""
    component = component.partition("/")[0].partition(":")[0]
    return TO_16.get((component.casefold(), variable.partition(":")[0].casefold()))


def _keys_16() -> dict[str, Any]:
    # imported here: the 1.6 adapter package imports the config package
    from chargerd.ocpp16.keys import BY_NAME

    return BY_NAME


def check_16(block: Node, entries: dict[str, Node], problems: list[Problem]) -> dict[str, Any]:
    """`Key: value` entries; a block in 2.0.1 form gets its 1.6 form as the answer."""
    from chargerd.ocpp16.keys import check_initial_value

    known = _keys_16()
    values: dict[str, Any] = {}
    in_201_form: dict[str, Node] = {}
    for key, child in entries.items():
        if isinstance(child.value, dict) and key not in known:
            in_201_form[key] = child
            continue
        error = check_initial_value(key, child.value)
        if error:
            problems.append(Problem(child.line, join("ocpp", key), error))
        values[key] = child.value
    if not in_201_form:
        return values
    # the entries already in 1.6 form, then the translated ones
    suggested = {key: plain(child) for key, child in entries.items() if key in known}
    for component, child in in_201_form.items():
        for variable, value in child.value.items():
            key = _key_16(component, variable)
            if key is None:
                message = (
                    "an OCPP 2.0.1 variable with no OCPP 1.6 counterpart here; allowed: "
                    "remove it, or a 1.6 configuration key such as HeartbeatInterval: 300"
                )
                problems.append(Problem(value.line, join(join("ocpp", component), variable),
                                        message))  # fmt: skip
            else:
                suggested[key] = plain(value)
    form = f": {_flow(suggested)}" if suggested else ", e.g. {HeartbeatInterval: 300}"
    message = (
        "the block is in OCPP 2.0.1 form (component → variable), but csms.ocpp_version is "
        f"'1.6'; allowed: the 1.6 form, Key: value{form}"
    )
    problems.append(Problem(block.line, "ocpp", message))
    return values


def check_201(
    block: Node, entries: dict[str, Node], connectors: int, problems: list[Problem]
) -> dict[str, Any]:
    """`Component: {Variable: value}` entries; a block in 1.6 form gets its 2.0.1 form."""
    from chargerd.ocpp201.variables import check_initial_value

    known_16 = _keys_16()
    components: dict[str, Any] = {}
    in_16_form: dict[str, Node] = {}
    for component, child in entries.items():
        path = join("ocpp", component)
        if not isinstance(child.value, dict) and component in known_16:
            in_16_form[component] = child
            continue
        allowed = "allowed: a mapping of variables to values, e.g. {HeartbeatInterval: 300}"
        variables = mapping(child, path, allowed, problems)
        if variables is None:
            continue
        components[component] = {}
        for variable, value in variables.items():
            if isinstance(value.value, dict | list):
                message = f"{show(value.value)} is not a single value; allowed: {_SCALAR}"
                problems.append(Problem(value.line, join(path, variable), message))
            else:
                error = check_initial_value(component, variable, value.value, connectors=connectors)
                if error:
                    problems.append(Problem(value.line, join(path, variable), error))
            components[component][variable] = value.value
    if not in_16_form:
        return components
    suggested: dict[str, dict[str, Any]] = {
        component: plain(child) for component, child in entries.items()
        if component not in in_16_form and isinstance(child.value, dict)
    }  # fmt: skip
    for key, child in in_16_form.items():
        if key in TO_201:
            component, variable = TO_201[key]
            suggested.setdefault(component, {})[variable] = plain(child)
        else:
            message = (
                "an OCPP 1.6 key with no OCPP 2.0.1 counterpart here; allowed: remove it, "
                "or a component → variable of the 2.0.1 device model"
            )
            problems.append(Problem(child.line, join("ocpp", key), message))
    example = ", e.g. {OCPPCommCtrlr: {HeartbeatInterval: 300}}"
    form = f": {_flow(suggested)}" if suggested else example
    message = (
        "the block is in OCPP 1.6 form (Key: value), but csms.ocpp_version is '2.0.1'; "
        f"allowed: the 2.0.1 form, component → variable{form}"
    )
    problems.append(Problem(block.line, "ocpp", message))
    return components


def read(node: Node | None, found: Found, problems: list[Problem]) -> dict[str, Any]:
    if node is None:
        return {}
    version = found.ocpp_version
    example = "HeartbeatInterval: 300" if version != "2.0.1" else "OCPPCommCtrlr: {...}"
    entries = mapping(node, "ocpp", f"allowed: a mapping such as {example}", problems)
    if entries is None or version is None:  # the shape depends on a valid ocpp_version
        return {}
    if version == "1.6":
        return {"ocpp": check_16(node, entries, problems)}
    return {"ocpp": check_201(node, entries, found.connectors, problems)}


SECTION = Section("ocpp", read)
