"""contrib/chargerctl.bash completes every command and sim command chargerctl has."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from chargerd.ctl import SIM_COMMANDS, _parser

SCRIPT = Path(__file__).parent.parent / "contrib" / "chargerctl.bash"


def complete(*words: str) -> set[str]:
    """What bash offers after `chargerctl WORDS` (the last word is the one being typed)."""
    line = " ".join(f"'{w}'" for w in ("chargerctl", *words))
    script = (
        f"source {SCRIPT}; COMP_WORDS=({line}); COMP_CWORD={len(words)}; "
        "_chargerctl; printf '%s\\n' \"${COMPREPLY[@]}\""
    )
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_every_command_is_completed():
    subparsers = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(subparsers.choices) <= complete("")


def test_every_sim_command_is_completed():
    assert {usage.split()[0] for usage, _ in SIM_COMMANDS} <= complete("sim", "")


def test_arguments_after_the_socket_option():
    assert complete("--socket", "/run/x.sock", "availability", "1", "") == {
        "operative",
        "inoperative",
    }
    assert complete("reset", "") == {"soft", "hard"}
