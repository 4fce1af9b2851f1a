"""`chargerctl` — look at and drive a running chargerd.

chargerctl [--socket PATH] status [--json]
chargerctl [--socket PATH] sim plug N | unplug N | ev-pause N | ev-resume N
                               | tag ID [--connector N] | fault N CODE | clear N
                               | meter-fail N | meter-restore N
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
    for c in status["connectors"]:
        error = "" if c["error_code"] == "NoError" else f"  error: {c['error_code']}"
        meter = f"{c['energy_wh']} Wh" if c["energy_wh"] is not None else "no reading"
        print(f"connector {c['id']}: {c['status']:<13} pilot {c['pilot']}  "
              f"offer {c['offered_a']:.0f} A  meter {meter}{error}")  # fmt: skip
        tx = c.get("transaction")
        if tx:
            minutes = (time.time() - tx["started_at"]) / 60
            seq = f"  seqNo {tx['seq_no']}" if "seq_no" in tx else ""
            print(f"  transaction {tx['id']}  tag {tx['id_tag']}  "
                  f"{tx['energy_wh']} Wh in {minutes:.1f} min{seq}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chargerctl", description="Look at and drive chargerd.")
    parser.add_argument("--version", action="version", version=f"chargerctl {version()}")
    parser.add_argument(
        "--socket", default=os.environ.get("CHARGERD_SOCKET", DEFAULT_SOCKET),
        help=f"control socket (control.socket in the YAML; default {DEFAULT_SOCKET})",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", help="connectors, transactions, link, outbox")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    sim = commands.add_parser("sim", help="drive the simulated hardware")
    sim.add_argument("args", nargs=argparse.REMAINDER, help="plug N, unplug N, tag ID, ...")
    args = parser.parse_args(argv)

    message: dict[str, Any] = {"cmd": args.command}
    if args.command == "sim":
        if not args.args:
            sim.error("a sim command is needed: plug N, unplug N, ev-pause N, ev-resume N, "
                      "tag ID [--connector N], fault N CODE, clear N")  # fmt: skip
        message["args"] = args.args
    try:
        answer = request(args.socket, message)
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
    if args.command == "status":
        if args.json:
            print(json.dumps(answer["status"], indent=2))
        else:
            _print_status(answer["status"])
    else:
        print(answer["message"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
