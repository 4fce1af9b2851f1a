"""One version number: pyproject.toml's, which the installed package and the fallback share."""

from __future__ import annotations

import tomllib
from importlib.metadata import version as installed_version
from pathlib import Path

import chargerd

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def test_the_fallback_version_is_the_pyproject_version():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert chargerd.__version__ == project["version"]


def test_the_running_version_is_the_installed_package_version():
    assert chargerd.version() == installed_version("chargerd")


def test_the_license_file_is_the_one_the_pyproject_names():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert "Apache-2.0" in str(project["license"])
    text = (PYPROJECT.parent / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
