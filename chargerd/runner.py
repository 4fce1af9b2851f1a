"""One run of the chargerd process: claim the storage dir, build the hardware, open the
control socket, handle signals, and run the station until a stop or a hard reset (soft
resets restart it in-process)."""

from __future__ import annotations

import asyncio
import fcntl
import gc
import logging
import os
import shlex
import signal
import subprocess
from pathlib import Path
from typing import IO

from . import logs, notify, version, version_change
from .config import Config
from .control import ControlServer
from .daemon import ADAPTERS, Daemon, Outcome

log = logging.getLogger("chargerd")

EXIT_CONFIG = 78
EXIT_HARD_RESET = 75  # EX_TEMPFAIL: systemd's Restart=on-failure brings the daemon back


def _claim(storage_dir: Path) -> IO[str]:
    """One daemon per storage dir: two writing one outbox would send messages twice."""
    storage_dir.mkdir(parents=True, exist_ok=True)
    handle = open(storage_dir / "chargerd.pid", "a+")  # noqa: SIM115 - held for the run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        other = handle.read().strip() or "?"
        handle.close()
        raise OSError(
            f"another chargerd (pid {other}) is using {storage_dir}; stop it first"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _ready() -> None:
    """The station is up: what start-up allocated stays (frozen out of the cyclic GC's
    sight), the GC runs again (`python -m chargerd` starts with it off), systemd is told."""
    gc.freeze()
    gc.enable()
    notify.ready()


async def run_station(config: Config, drop_queue: bool = False) -> int:
    """Run until SIGTERM/SIGINT (exit 0) or a hard reset (EXIT_HARD_RESET); soft resets
    restart the station in-process with a new BootNotification. `drop_queue`: discard
    messages queued under another OCPP version (version_change.py)."""
    from hal.builders import HardwareConfigError
    from hal.registry import build_hardware

    log.info("chargerd %s starting: station %s, %s", version(), config.station.id, config.path)
    if config.csms.ocpp_version not in ADAPTERS:
        log.error("csms.ocpp_version %s is not available in this build; available: %s",
                  config.csms.ocpp_version, ", ".join(ADAPTERS))  # fmt: skip
        return EXIT_CONFIG
    try:
        instance = _claim(config.storage_dir)
    except OSError as exc:
        log.error("%s", exc)
        return 1
    ocpp = config.csms.ocpp_version
    if problem := version_change.check_storage(config.storage_dir, ocpp, drop_queue):
        log.error("%s", problem)
        instance.close()
        return EXIT_CONFIG
    try:
        hardware = await build_hardware(config)
    except (HardwareConfigError, OSError) as exc:
        log.error("cannot set up the hardware: %s", exc)
        return EXIT_CONFIG if isinstance(exc, HardwareConfigError) else 1
    control = ControlServer(config.control_socket)
    await control.start()
    loop = asyncio.get_running_loop()
    daemon: Daemon | None = None

    def on_signal() -> None:
        log.info("stop requested")
        if daemon is not None:
            daemon.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    loop.add_signal_handler(signal.SIGHUP, logs.reopen)  # logrotate; without it HUP kills us
    try:
        while True:
            daemon = Daemon(config, hardware)
            outcome = await daemon.run(control, on_ready=_ready)
            if outcome is Outcome.SOFT_RESET:
                log.warning("soft reset: restarting the station")
                continue
            break
    finally:
        notify.stopping()
        await control.stop()
        await hardware.close()
    instance.close()
    if outcome is Outcome.HARD_RESET:
        if config.hard_reset_command:
            log.warning("hard reset: running %s", config.hard_reset_command)
            subprocess.run(shlex.split(config.hard_reset_command), check=False)
        return EXIT_HARD_RESET
    return 1 if outcome is Outcome.FAILED else 0
