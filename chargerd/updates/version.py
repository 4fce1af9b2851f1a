"""The firmware version the station runs, as BootNotification and the device model report it.

`station.firmware_version` in the YAML is the factory version; once an update is installed
the running version is kept in `firmware-version` in `storage.dir` and wins. The installer
writes it (installer.py); an image that boots back into the old slot (A/B rollback) may
write its own version there before chargerd starts, and the update is then reported as
failed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

FILE = "firmware-version"


def running_version(config: Any) -> str:
    """The version running now: the one installed last, else the factory version."""
    try:
        installed = (Path(config.storage_dir) / FILE).read_text().strip()
    except OSError:
        installed = ""
    return installed or config.station.firmware_version


def set_running_version(storage_dir: Path, version: str) -> None:
    """Persist `version` atomically and on disk (a power cut leaves the old or the new)."""
    storage_dir.mkdir(parents=True, exist_ok=True)
    tmp = storage_dir / (FILE + ".tmp")
    with tmp.open("w") as f:
        f.write(version + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, storage_dir / FILE)
    fd = os.open(storage_dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
