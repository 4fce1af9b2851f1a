"""Installing a downloaded image: the configured backend (`firmware.installer`).

- `command`: `firmware.command` with `{file}` and `{version}` substituted (shell-quoted) is
  run by /bin/sh; its exit status and output are logged. Exit 0 means the image is written
  and a restart is due; a line `version=X` in the output names the version instead of the
  file name. The running version is then persisted (version.py) and the part exits the
  daemon with 75 (systemd restarts it; `reset.hard_command` reboots first if set). Exit 65
  (EX_DATAERR of sysexits.h) means the installer's own check refused the image (bundle
  signature, checksum) and wrote nothing: InstallVerificationFailed; any other exit status
  is InstallationFailed.
- `sim`: pretends (a short pause) and restarts the daemon in-process. An image whose file
  name contains "rollback" comes back with the old version, as an A/B system whose new slot
  failed its health check would: the update then ends InstallVerificationFailed. One whose
  file name contains "corrupt" is refused by the simulated check (nothing written, no
  restart: InstallVerificationFailed). Tests and the simulator use it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .version import set_running_version

log = logging.getLogger("chargerd.updates")

SIM_INSTALL_S = 0.3  # how long the simulated installation "takes"
OUTPUT_LINES_LOGGED = 50  # an installer that talks a lot is cut in the log, not in its work
REFUSED_IMAGE_EXIT = 65  # EX_DATAERR: the installer's verification of the image failed
VERSION_LINE = re.compile(r"^\s*version\s*=\s*(\S+)\s*$", re.I | re.M)


@dataclass(frozen=True)
class Installed:
    ok: bool  # the image is written; a restart is due
    version: str | None  # the version the installer named, if it did
    detail: str  # for the log and chargerctl firmware
    verification_failed: bool = False  # the installer refused the image: nothing written


async def install(config: Any, image: Path, version: str) -> Installed:
    """Install `image` (expected to be `version`) with the configured backend."""
    if config.firmware.installer == "sim":
        return await _simulate(config, image, version)
    return await _run_command(config, image, version)


async def _simulate(config: Any, image: Path, version: str) -> Installed:
    await asyncio.sleep(SIM_INSTALL_S)
    if "corrupt" in image.name:
        log.error("sim installer: %s fails the image check", image.name)
        return Installed(False, None, "simulated; the image check failed", True)
    if "rollback" in image.name:
        log.warning("sim installer: %s will roll back to the old version", image.name)
        return Installed(True, None, "simulated; the new slot will fail and roll back")
    await asyncio.to_thread(set_running_version, config.storage_dir, version)
    return Installed(True, version, "simulated")


async def _run_command(config: Any, image: Path, version: str) -> Installed:
    command = config.firmware.command.replace("{file}", shlex.quote(str(image)))
    command = command.replace("{version}", shlex.quote(version))
    log.warning("installing firmware %s: %s", version, command)
    try:
        process = await asyncio.create_subprocess_shell(
            command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output_bytes, _ = await process.communicate()
    except OSError as exc:
        log.error("the firmware installer could not be started: %s", exc)
        return Installed(False, None, f"could not start: {exc}")
    output = output_bytes.decode(errors="replace")
    lines = output.splitlines()
    for line in lines[-OUTPUT_LINES_LOGGED:]:
        log.info("installer: %s", line)
    named = VERSION_LINE.findall(output)
    reported = named[-1] if named else None
    if process.returncode != 0:
        refused = process.returncode == REFUSED_IMAGE_EXIT
        log.error("the firmware installer exited with %s%s", process.returncode,
                  " (the image failed its verification)" if refused else "")  # fmt: skip
        tail = lines[-1] if lines else ""
        detail = f"exit status {process.returncode}: {tail}"[:200]
        return Installed(False, reported, detail, refused)
    log.warning("the firmware installer finished (exit 0): restarting into %s",
                reported or version)  # fmt: skip
    await asyncio.to_thread(set_running_version, config.storage_dir, reported or version)
    return Installed(True, reported, "exit status 0")
