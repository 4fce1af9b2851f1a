"""chargerd: the software on the Linux board inside an EV charging station (OCPP 1.6J / 2.0.1)."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _installed_version

# Used when chargerd runs from a source tree that was never installed; keep it equal to
# pyproject.toml's version (tests/test_version.py checks).
__version__ = "0.1.0"


@cache  # reading the package metadata parses a file: once per process
def version() -> str:
    """The running version: the installed package's, else `__version__`."""
    try:
        return _installed_version("chargerd")
    except PackageNotFoundError:
        return __version__
