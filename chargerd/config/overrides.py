"""`--set dotted.key=value` overrides, applied to the file's values before validation."""

from __future__ import annotations

import yaml

from .source import Node, Problem, Reader, index, join, show

_OVERRIDE_FORM = "dotted.key=value, e.g. csms.url=ws://127.0.0.1:9000/ocpp"


def _quoted(text: str) -> str:
    """The override as given, quoted when blanks at its ends would hide in the message."""
    return text if text and text == text.strip() else repr(text)


def parse_override(text: str, problems: list[Problem]) -> tuple[list[str], Node] | None:
    """The key parts and the value of one override, or None (with a problem) if malformed."""
    key, equals, value_text = text.partition("=")
    key = key.strip()
    if not equals:
        problems.append(Problem(None, _quoted(text), f"missing '='; allowed: {_OVERRIDE_FORM}"))
        return None
    parts = key.split(".")
    if not all(parts):
        what = "empty key" if not key else f"empty part in key {key!r}"
        problems.append(Problem(None, _quoted(text), f"{what}; allowed: {_OVERRIDE_FORM}"))
        return None
    reader = Reader(problems, from_file=False)
    try:
        node = yaml.compose(value_text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError) as exc:
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        problems.append(Problem(None, key, f"YAML syntax error in the value: {what}"))
        return None
    if node is None:  # `key=` sets null
        return parts, Node(None, None)
    return parts, reader.read(node, key, None)


def apply_override(root: Node, parts: list[str], value: Node, problems: list[Problem]) -> None:
    """Set the value at the dotted key, creating missing mappings on the way."""
    node = root
    path = ""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node.value, dict):
            if last:
                node.value[part] = value
                return
            child = node.value.get(part)
            if child is None or child.value is None:
                child = Node({}, None)
                node.value[part] = child
            node, path = child, join(path, part)
        elif isinstance(node.value, list):
            count = len(node.value)
            if not part.isdigit() or int(part) >= count:
                allowed = f"0..{count - 1} (counted from 0)" if count else "none, it is empty"
                message = f"{part!r} is not an index of {path}; allowed: {allowed}"
                problems.append(Problem(None, ".".join(parts), message))
                return
            if last:
                node.value[int(part)] = value
                return
            node, path = node.value[int(part)], index(path, int(part))
        else:
            message = (
                f"{path} is {show(node.value)}, which has no {part!r}; "
                f"allowed: keys inside mappings, 0-based indexes inside lists"
            )
            problems.append(Problem(None, ".".join(parts), message))
            return
