"""Layering: hal/ knows nothing of the daemon, and the daemon never loads the dev CSMS.

Imports are read from the source (ast), so every form counts: module level, inside
`if TYPE_CHECKING:`, inside a function, relative, and `importlib.import_module("...")`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# The development CSMSes and the demo that drives one: before the move to devcsms/ they
# were these chargerd modules; both spellings are held to the same rule.
DEV_CSMS = (
    "devcsms",
    "chargerd.csms",
    "chargerd.csms201",
    "chargerd.demo",
    "chargerd.ocpp201.demo",
)
# `chargerd demo` is the one daemon entry that may load it, lazily (not at import time).
DEMO_ENTRY = "chargerd.cli"


@dataclass(frozen=True)
class Imported:
    module: str  # absolute dotted name
    line: int
    in_function: bool  # a function-local import runs only when that function is called


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, name: str, is_package: bool = False) -> list[Imported]:
    """Every module the source of module `name` imports, by absolute name."""
    package = name if is_package else name.rpartition(".")[0]
    found: list[Imported] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Imported(a.name, node.lineno, in_function) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parent + ([node.module] if node.module else []))
            found.append(Imported(base, node.lineno, in_function))
            # `from chargerd import csms` imports the submodule chargerd.csms
            found.extend(
                Imported(f"{base}.{a.name}" if base else a.name, node.lineno, in_function)
                for a in node.names
            )
        elif isinstance(node, ast.Call) and _names_import_call(node.func) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append(Imported(first.value, node.lineno, in_function))
        inside = in_function or isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
        )
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(ast.parse(source), False)
    return found


def _names_import_call(func: ast.expr) -> bool:
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in ("import_module", "__import__")


def within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def sources(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def test_no_hal_module_imports_the_daemon() -> None:
    assert sources("hal"), "no hal/ sources found"
    offending = [
        f"{path.relative_to(REPO)}:{imported.line}: imports {imported.module}"
        for path in sources("hal")
        for imported in imports_of(path.read_text(), module_name(path), path.name == "__init__.py")
        if within(imported.module, ("chargerd",))
    ]
    assert offending == [], "hal/ must not know the daemon:\n" + "\n".join(offending)


def test_the_daemon_never_imports_the_dev_csms() -> None:
    offending = []
    for path in sources("chargerd"):
        name = module_name(path)
        if within(name, DEV_CSMS):
            continue  # the dev CSMS itself, while it still lives in chargerd/
        for imported in imports_of(path.read_text(), name, path.name == "__init__.py"):
            lazy_demo_entry = name == DEMO_ENTRY and imported.in_function
            if within(imported.module, DEV_CSMS) and not lazy_demo_entry:
                offending.append(f"{path.relative_to(REPO)}:{imported.line}: {imported.module}")
    assert offending == [], "the daemon imports the dev CSMS:\n" + "\n".join(offending)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from chargerd.config import C\n",
         "chargerd.config"),
        ("def f():\n    from chargerd.config import DeviceConfig\n", "chargerd.config"),
        ("import chargerd.daemon as d\n", "chargerd.daemon"),
        ("from ... import chargerd\n", "chargerd"),
        ("import importlib\nm = importlib.import_module('chargerd.store')\n", "chargerd.store"),
        ("from chargerd import csms\n", "chargerd.csms"),
        ("from .. import csms201\n", "chargerd.csms201"),
    ],
)  # fmt: skip
def test_every_form_of_import_is_seen(source: str, expected: str) -> None:
    # as if written in chargerd/ocpp16/x.py; `from ... import` climbs to the top level
    imported = [i.module for i in imports_of(source, "chargerd.ocpp16.x")]
    assert expected in imported, imported
