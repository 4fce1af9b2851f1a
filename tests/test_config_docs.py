"""docs/CONFIG.md stays true: every key the configuration accepts, and every option of
every driver of this version, is described there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chargerd.config import connectors
from chargerd.config.model import SECTIONS
from hal.registry import DEVICE_DRIVERS

DOC = (Path(__file__).resolve().parents[1] / "docs" / "CONFIG.md").read_text()
# The keys of `ocpp` are OCPP's own (1.6 keys, 2.0.1 variables): the station's tables
# and GetBaseReport list them; the doc describes the block's two forms.
FREE_FORM = {"ocpp"}


def chunk(heading: str) -> str:
    """The text under the markdown heading that reads exactly `heading`, up to the next
    heading of any level."""
    match = re.search(rf"^#+ {re.escape(heading)}(?: \(required\))?\n(.*?)(?=^#+ |\Z)", DOC,
                      re.M | re.S)  # fmt: skip
    assert match, f"docs/CONFIG.md has no heading {heading!r}"
    return match.group(1)


def rows(text: str) -> set[str]:
    """The keys of the tables in `text`: the first cell, `like_this`."""
    return set(re.findall(r"^\| `([^`]+)` \|", text, re.M))


def section_keys() -> list[tuple[str, str]]:
    keys = []
    for section in SECTIONS:
        if section.key in FREE_FORM:
            continue
        accepted = section.keys or (tuple(connectors.KEYS) if section is connectors.SECTION else ())
        assert accepted, f"section {section.key!r} does not say which keys it accepts"
        keys += [(section.key, key) for key in accepted]
    return keys


@pytest.mark.parametrize(("section", "key"), section_keys())
def test_every_key_of_every_section_is_in_config_md(section: str, key: str):
    assert key in rows(chunk(f"`{section}`")), f"{section}.{key} is not in docs/CONFIG.md"


DRIVER_OPTIONS = [
    (role, driver, option)
    for role, drivers in DEVICE_DRIVERS.items()
    for driver, spec in drivers.items()
    for option in spec.options or [None]
]


@pytest.mark.parametrize(("role", "driver", "option"), DRIVER_OPTIONS)
def test_every_option_of_every_driver_is_in_config_md(role: str, driver: str, option: str | None):
    text = chunk(f"`{role}`: `{driver}`")
    if option is None:
        assert "No options" in text
    else:
        assert option in rows(text), f"{role} {driver}: {option} is not in docs/CONFIG.md"


def test_the_device_roles_of_a_connector_link_to_their_drivers():
    for role in DEVICE_DRIVERS:
        assert role in rows(chunk("`connectors`")), role
