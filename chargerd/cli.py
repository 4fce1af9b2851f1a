"""`chargerd` — run the daemon, check a configuration, or show a demo session.

Exit codes: 0 ok, 2 usage, 78 configuration error (EX_CONFIG), 75 hard reset
(systemd restarts the daemon), 1 anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import logging
import sys

from . import version

EXIT_CONFIG = 78


def _parser() -> argparse.ArgumentParser:
    from hal.registry import DEVICE_DRIVERS

    roles = "; ".join(f"{role}: {', '.join(names)}" for role, names in DEVICE_DRIVERS.items())
    drivers = f"Hardware drivers of this version: {roles} (docs/CONFIG.md lists their options)."
    parser = argparse.ArgumentParser(
        prog="chargerd", description=__doc__.splitlines()[0], epilog=drivers
    )
    parser.add_argument("--version", action="version", version=f"chargerd {version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="run the station daemon in the foreground", epilog=drivers
    )
    run.add_argument("--config", required=True, metavar="FILE", help="station YAML file")
    run.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a config value, e.g. --set csms.url=ws://10.0.0.5:9000/ocpp "
        "(list items by 0-based index: connectors.0.max_current_a=16)",
    )  # fmt: skip
    run.add_argument(
        "--drop-queue", action="store_true",
        help="discard messages and open transactions queued under another csms.ocpp_version "
        "(without it the daemon refuses to start while there are any; docs/OPERATIONS.md)",
    )  # fmt: skip
    check = commands.add_parser(
        "check-config",
        help="validate a configuration file and exit",
        description="Validate a station YAML file: exit 0 (warnings on stderr), or 78 with "
        f"one line per error. {drivers}",
    )
    check.add_argument("file", metavar="FILE")
    check.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    demo = commands.add_parser(
        "demo", help="a simulated station and a local CSMS play one charging session"
    )
    demo.add_argument("--ocpp", choices=["1.6", "2.0.1"], default="1.6")
    return parser


def _limits(c) -> str:  # noqa: ANN001 - a ConnectorConfig
    if not c.dc:
        return f"{c.max_current_a:g} A, {c.phases} phase(s)"
    text = f"DC {c.max_current_a:g} A"
    if c.max_power_kw is not None:
        text += f", {c.max_power_kw:g} kW"
    if c.min_voltage_v is not None or c.max_voltage_v is not None:
        text += f", {c.min_voltage_v or 0:g}..{c.max_voltage_v or 0:g} V"
    return text


def _load(path: str, overrides: list[str]):
    from .config import ConfigError, load_config

    try:
        return load_config(path, overrides)
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        from hal.registry import device_config

        config = _load(args.file, args.set)
        if config is None:
            return EXIT_CONFIG
        for warning in config.warnings:
            print(warning, file=sys.stderr)
        print(f"{args.file}: OK — OCPP {config.csms.ocpp_version} to {config.csms.url}"
              + (" (wire simulators in-process)" if config.sim.wire else ""))  # fmt: skip
        for c in config.connectors:
            devices = []
            for role in ("controller", "meter", "power", "reader", "display"):
                if device := device_config(c, role, config.hal_driver):
                    devices.append(f"{role} {device.driver} {device.options.get('model', '')}")
            devices = ", ".join(d.rstrip() for d in devices)
            print(f"  connector {c.id}: {_limits(c)}; {devices}")
        return 0
    if args.command == "demo":
        from devcsms.demo import run_demo

        return asyncio.run(run_demo(args.ocpp))
    gc.disable()  # as in __main__.py: the start's imports; the runner turns it back on
    config = _load(args.config, args.set)
    if config is None:
        return EXIT_CONFIG
    from .config.host import make_dirs

    if problems := make_dirs(config.storage_dir, config.control_socket, args.config):
        print("\n".join(problems), file=sys.stderr)
        return EXIT_CONFIG
    from . import logs
    from .runner import run_station

    secrets = []
    if config.csms.password:
        token = f"{config.station.id}:{config.csms.password}".encode()
        secrets = [config.csms.password, base64.b64encode(token).decode()]
    logs.setup(config.log_level, secrets, config.log_file, keep_dir=config.storage_dir)
    for warning in config.warnings:
        logging.getLogger("chargerd").warning("%s", warning)
    try:
        return asyncio.run(run_station(config, drop_queue=args.drop_queue))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
