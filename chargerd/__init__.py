"""chargerd: the software on the Linux board inside an EV charging station (OCPP 1.6J / 2.0.1)."""

from __future__ import annotations

# pyproject.toml's version, which the installed package carries too (tests/test_version.py
# keeps them equal); read from here rather than from the package metadata, whose parsing
# cost 50 ms of every start.
__version__ = "0.1.0"


def version() -> str:
    """The running version."""
    return __version__
