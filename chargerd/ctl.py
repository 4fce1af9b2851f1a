"""`chargerctl` — look at and drive a running chargerd.

chargerctl [--socket PATH] status [--json]          exit 0 ok, 3 link down, 4 a connector faulted
chargerctl [--socket PATH] unlock N | stop N | availability N|station operative|inoperative
                           | reset soft|hard | ocpp get KEY | ocpp set KEY VALUE
                           | log-level debug|info|warning|error
                           | limit AMPS|clear [--connector N] [--source EMS|SO|Other]
                           | schedule [--connector N] [--duration S] [--json]
                           | logs bundle FILE | certs [--json] | firmware [--json]
chargerctl [--socket PATH] sim plug N | unplug N | ev-pause N | ev-resume N
                               | tag ID [--connector N] | fault N CODE | clear N
                               | meter-fail N | meter-restore N | bay N occupied|free
                               | ev-max N AMPS | house-load AMPS | grid-meter-fail
                               | grid-meter-restore | tamper
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from typing import Any

from . import version

DEFAULT_SOCKET = "/run/chargerd/control.sock"
EXIT_LINK_DOWN = 3  # status: the link to the CSMS is not up
EXIT_FAULTED = 4  # status: a connector is faulted


def request(path: str, message: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(json.dumps(message).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


def _print_status(status: dict[str, Any]) -> None:
    link = status["link"]
    line = f"station {status['station']}  OCPP {status.get('ocpp_version')}  link: {link['state']}"
    if status.get("registration"):
        line += f" (boot: {status['registration']})"
    line += f"  outbox: {status.get('outbox_depth', 0)} waiting"
    if status.get("outbox_thinned"):
        line += f" ({status['outbox_thinned']} samples thinned out: storage.max_queue_mb)"
    print(line)
    if link.get("last_error"):
        print(f"  last link error: {link['last_error']}")
    if shown := (status.get("display") or {}).get("lines"):
        print("  display: " + " | ".join(shown))
    if security := status.get("security"):
        client = security.get("client_cert")
        cert = (
            f"  client certificate {client['subject']} until {client['not_after']}"
            if client
            else ""
        )
        print(f"  security profile {security['profile']}{cert}")
    for c in status["connectors"]:
        error = "" if c["error_code"] == "NoError" else f"  error: {c['error_code']}"
        meter = f"{c['energy_wh']} Wh" if c["energy_wh"] is not None else "no reading"
        print(f"connector {c['id']}: {c['status']:<13} pilot {c['pilot']}  "
              f"offer {c['offered_a']:g} A  meter {meter}{error}")  # fmt: skip
        if c.get("limit_a") is not None:
            print(f"  limit {c['limit_a']:g} A ({c['limit_source']})")
        if dc := c.get("dc"):
            shown = {k: "?" if v is None else f"{v:g}" for k, v in dc.items()}
            print(f"  DC output {shown['voltage_v']} V  {shown['current_a']} A  "
                  f"{shown['power_w']} W")  # fmt: skip
        for fault in c.get("faults") or []:
            print(f"  fault {fault['code']}: {fault['device']}: {fault['reason']}")
        if warning := c.get("warning"):
            print(f"  warning {warning['code']}: {warning['device']}: {warning['reason']}")
        tx = c.get("transaction")
        if tx:
            minutes = (time.time() - tx["started_at"]) / 60
            seq = f"  seqNo {tx['seq_no']}" if "seq_no" in tx else ""
            cost = f"  cost {tx['cost']:.2f}" if tx.get("cost") is not None else ""
            print(f"  transaction {tx['id']}  tag {tx['id_tag']}  "
                  f"{tx['energy_wh']} Wh in {minutes:.1f} min{seq}{cost}")  # fmt: skip
        if (last := c.get("last_transaction")) and last.get("total_cost") is not None:
            print(f"  last transaction {last['id']}: total cost {last['total_cost']:.2f}")
        if shown := (c.get("display") or {}).get("lines"):
            print("  display: " + " | ".join(shown))


SIM_COMMANDS = (
    ("plug N", "an EV is connected to connector N"),
    ("unplug N", "the EV leaves"),
    ("ev-pause N", "the EV stops drawing current"),
    ("ev-resume N", "the EV draws again"),
    ("tag ID [--connector N]", "a card at the reader; says what became of it"),
    ("fault N CODE", "a hardware fault (an OCPP error code, e.g. GroundFailure)"),
    ("clear N", "the faults of connector N go away"),
    ("meter-fail N", "the meter stops answering"),
    ("meter-restore N", "the meter answers again"),
    ("bay N occupied|free", "a vehicle enters / leaves the parking bay (bay sensor)"),
    ("ev-max N AMPS", "the EV on connector N draws at most AMPS"),
    ("house-load AMPS", "the building's other load at the grid meter (site.meter: sim)"),
    ("grid-meter-fail", "the grid meter stops answering"),
    ("grid-meter-restore", "the grid meter answers again"),
    ("tamper", "the enclosure's tamper switch trips (a security event)"),
)
SIM_HELP = "\n".join(f"  {usage:<24} {what}" for usage, what in SIM_COMMANDS)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chargerctl",
        description="Look at and drive chargerd.",
        epilog=f"status exit codes: 0 ok, {EXIT_LINK_DOWN} link to the CSMS down, "
        f"{EXIT_FAULTED} a connector faulted, 1 chargerd not reachable (docs/OPERATIONS.md)",
    )
    parser.add_argument("--version", action="version", version=f"chargerctl {version()}")
    parser.add_argument(
        "--socket", default=os.environ.get("CHARGERD_SOCKET", DEFAULT_SOCKET),
        help=f"control socket (control.socket in the YAML; default {DEFAULT_SOCKET})",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    status = commands.add_parser(
        "status", help="connectors, transactions, link, outbox; exit 0 only when all is well"
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    unlock = commands.add_parser("unlock", help="unlock the cable of connector N")
    unlock.add_argument("connector", metavar="N", type=int)
    stop = commands.add_parser("stop", help="end the session on connector N (reason Local)")
    stop.add_argument("connector", metavar="N", type=int)
    availability = commands.add_parser(
        "availability", help="take connector N (or the station) out of service, or back"
    )
    availability.add_argument("target", metavar="N|station")
    availability.add_argument("state", choices=["operative", "inoperative"])
    reset = commands.add_parser("reset", help="end sessions and restart (soft: in-process)")
    reset.add_argument("kind", choices=["soft", "hard"])
    ocpp = commands.add_parser(
        "ocpp", help="read or change an OCPP configuration key (2.0.1: Component.Variable)"
    )
    ocpp_commands = ocpp.add_subparsers(dest="ocpp_command", required=True)
    get = ocpp_commands.add_parser("get", help="the value of KEY")
    get.add_argument("key", metavar="KEY")
    put = ocpp_commands.add_parser("set", help="change KEY as the CSMS would")
    put.add_argument("key", metavar="KEY")
    put.add_argument("value", metavar="VALUE")
    level = commands.add_parser("log-level", help="the daemon's log level, until it restarts")
    level.add_argument("level", choices=["debug", "info", "warning", "error"])
    limit = commands.add_parser(
        "limit", help="an external limit (EMS, grid operator) in A per phase, or clear"
    )
    limit.add_argument("amps", metavar="AMPS|clear")
    limit.add_argument("--connector", type=int, help="one connector (default: the station)")
    limit.add_argument("--source", choices=["EMS", "SO", "Other"], help="default EMS")
    schedule = commands.add_parser(
        "schedule", help="the composite schedule the station applies (default connector 0)"
    )
    schedule.add_argument("--connector", type=int)
    schedule.add_argument("--duration", type=int, metavar="S", help="seconds (default 86400)")
    schedule.add_argument("--json", action="store_true", help="machine-readable output")
    logs = commands.add_parser("logs", help="the diagnostics bundle a CSMS would get")
    logs_commands = logs.add_subparsers(dest="logs_command", required=True)
    bundle = logs_commands.add_parser("bundle", help="write it to FILE (a .tar.gz)")
    bundle.add_argument("file", metavar="FILE", type=os.path.abspath)  # the daemon writes it
    firmware = commands.add_parser(
        "firmware", help="the firmware version, the update in progress, the last results"
    )
    firmware.add_argument("--json", action="store_true", help="machine-readable output")
    certs = commands.add_parser(
        "certs", help="the certificate store: type, subject, expiry, OCPP hash data"
    )
    certs.add_argument("--json", action="store_true", help="machine-readable output")
    sim = commands.add_parser(
        "sim",
        help="drive the simulated hardware: " + ", ".join(u.split()[0] for u, _ in SIM_COMMANDS),
        description=f"Drive the simulated hardware.\n\n{SIM_HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sim.add_argument("args", nargs=argparse.REMAINDER, metavar="COMMAND ...")
    return parser


# The parsed arguments each command sends, in order.
ARGUMENTS = {
    "unlock": ("connector",),
    "stop": ("connector",),
    "availability": ("target", "state"),
    "reset": ("kind",),
    "log-level": ("level",),
    "limit": ("amps",),
    "logs": ("logs_command", "file"),
}
# Options each command passes on as `--name value` (`--name` alone for a flag that is set).
OPTIONS = {
    "limit": ("connector", "source"),
    "schedule": ("connector", "duration", "json"),
    "certs": ("json",),
    "firmware": ("json",),
}


def _message(args: argparse.Namespace) -> dict[str, Any]:
    """The control-socket request for the parsed command line."""
    if args.command == "sim":
        words = args.args
    elif args.command == "ocpp":
        words = [args.ocpp_command, args.key] + ([args.value] if args.ocpp_command == "set" else [])
    else:
        words = [getattr(args, name) for name in ARGUMENTS.get(args.command, ())]
        for name in OPTIONS.get(args.command, ()):
            value = getattr(args, name)
            if value is not None and value is not False:
                words += [f"--{name}"] + ([] if value is True else [value])
    message: dict[str, Any] = {"cmd": args.command}
    if words:
        message["args"] = [str(word) for word in words]
    return message


def status_code(status: dict[str, Any]) -> int:
    """What `status` exits with, for monitoring: a faulted connector first, then the link."""
    if any(c["status"] == "Faulted" for c in status["connectors"]):
        return EXIT_FAULTED
    if status["link"]["state"] != "connected":
        return EXIT_LINK_DOWN
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "sim" and not args.args:
        parser.error(f"a sim command is needed:\n{SIM_HELP}")
    try:
        answer = request(args.socket, _message(args))
    except (FileNotFoundError, ConnectionRefusedError):
        print(f"chargerctl: chargerd is not running (no one listens on {args.socket}); "
              "start it, or give its control.socket with --socket", file=sys.stderr)  # fmt: skip
        return 1
    except PermissionError:
        print(f"chargerctl: no permission to use {args.socket} (run as root or as a member "
              "of the chargerd group)", file=sys.stderr)  # fmt: skip
        return 1
    except (OSError, ValueError) as exc:
        print(f"chargerctl: {args.socket}: {exc}", file=sys.stderr)
        return 1
    if not answer.get("ok"):
        print(f"chargerctl: {answer.get('error')}", file=sys.stderr)
        return 2 if args.command == "sim" else 1
    code = status_code(answer["status"]) if args.command == "status" else 0
    try:
        if args.command != "status":
            print(answer["message"])
        elif args.json:
            print(json.dumps(answer["status"], indent=2))
        else:
            _print_status(answer["status"])
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader left (`chargerctl status | head -1`): not an error of ours; Python
        # would complain again when it flushes stdout at exit, so point it at /dev/null
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code


if __name__ == "__main__":
    sys.exit(main())
