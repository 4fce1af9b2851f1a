"""Loading: read the file, apply `--set` overrides, let each section check its part."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .model import SECTIONS, Config
from .overrides import apply_override, parse_override
from .review import SYSTEM_CONFIG_DIRS, device_problems, warnings
from .schema import Found, known_keys
from .source import Node, Problem, Reader, compose, format_problems


class ConfigError(Exception):
    """The configuration is not valid. `errors` holds one line per problem."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


def load_config(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    system_dirs: tuple[Path, ...] = SYSTEM_CONFIG_DIRS,
) -> Config:
    """Read the YAML file at `path`, apply `overrides`, validate, and return the Config.

    Each override is `dotted.key=value` (as given to `chargerd run --set`); the value is
    read as YAML, list items are addressed by a 0-based index (`connectors.0.phases=1`),
    and missing mappings on the way are created. Overrides are applied before validation.

    Raises ConfigError with one line per problem found, never stopping at the first:
    `{file}:{line}: {key.path}: {what is wrong}; {what is allowed}`, or `--set {key.path}: ...`
    when the value came from an override. What works but is likely a mistake comes back
    in `Config.warnings`, in the same form (relative paths and simulated devices count as
    such only in a file under one of `system_dirs`).
    """
    file = str(path)
    problems: list[Problem] = []
    changes = [parse_override(text, problems) for text in overrides]

    document, unreadable = compose(file)
    if unreadable is not None:
        raise ConfigError([unreadable] + format_problems(problems, file))

    reader = Reader(problems, from_file=True)
    if document is None:  # an empty file: report the missing keys
        root = Node({}, 1)
    else:
        root = reader.read(document, "", document.start_mark.line + 1)
    if reader.overflowed:
        raise ConfigError(format_problems(problems, file))

    if root.value is None:  # a document of only `~` or comments
        root.value = {}
    if isinstance(root.value, dict):
        for change in changes:
            if change is not None:
                apply_override(root, *change, problems)
    found: list[Problem] = []
    config = build_config(Path(path), root, problems, found)
    if config is not None and not problems:
        problems += device_problems(config, root)
    if config is None or problems:
        raise ConfigError(format_problems(problems, file))
    found += warnings(config, root, system_dirs)
    return replace(config, warnings=tuple(format_problems(found, file, "warning")))


def build_config(
    path: Path, root: Node, problems: list[Problem], warnings: list[Problem]
) -> Config | None:
    """Every section checked, all problems reported (and warnings added to `warnings`);
    the Config when there are no problems."""
    keys = [section.key for section in SECTIONS]
    required = [section.key for section in SECTIONS if section.required]
    top = known_keys(root, "", keys, required, problems)
    found = Found(warnings=warnings)
    fields: dict[str, Any] = {}
    for section in SECTIONS:
        fields.update(section.read(top.get(section.key), found, problems))
    if problems:
        return None
    return Config(path=path, **fields)
