"""`scripts/dev-csms` / `python -m devcsms`: a development CSMS for the lab, in the foreground.

It logs every message in and out, one line each, and the violations it saw when stopped
(Ctrl-C or SIGTERM, exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from .server import CsmsServer, server_tls
from .v16 import Csms
from .v201 import Csms201

log = logging.getLogger("chargerd.csms")  # the name soak and bench configure
CSMS_CLASSES: dict[str, type[CsmsServer]] = {"1.6": Csms, "2.0.1": Csms201}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="dev-csms",
        description="Development OCPP Central System (1.6J or 2.0.1): logs every message in "
        "and out. Stations connect to ws://HOST:PORT/ocpp/<station-id> with subprotocol ocpp1.6 "
        "(or ocpp2.0.1 with --ocpp 2.0.1).",
    )
    parser.add_argument(
        "--ocpp", choices=list(CSMS_CLASSES), default="1.6", help="OCPP version (%(default)s)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=9000, help="port (default %(default)s; 0=any)")
    parser.add_argument("--password", help="require Basic auth: user = station id, this password")
    parser.add_argument("--heartbeat-interval", type=int, default=300, metavar="S")
    parser.add_argument(
        "--boot-status", default="Accepted", choices=["Accepted", "Pending", "Rejected"]
    )
    parser.add_argument(
        "--boot-interval", type=int, default=300, metavar="S", help="retry interval if not Accepted"
    )
    parser.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="ID=STATUS",
        help="answer STATUS (Accepted, Blocked, Expired, Invalid, ConcurrentTx) for id tag ID",
    )
    parser.add_argument(
        "--unknown-tags-status", default="Accepted", help="status for other id tags (%(default)s)"
    )
    parser.add_argument("--tls-cert", metavar="PEM", help="serve wss:// with this chain (PEM)")
    parser.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    parser.add_argument(
        "--tls-client-ca",
        metavar="PEM",
        help="require station client certificates issued by this CA (security profile 3)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    for item in args.tag:
        if "=" not in item:
            parser.error(f"--tag wants ID=STATUS, got {item!r}")
    if (args.tls_key or args.tls_client_ca) and not args.tls_cert:
        parser.error("--tls-key and --tls-client-ca need --tls-cert")
    return args


async def _serve(args: argparse.Namespace) -> int:
    csms = CSMS_CLASSES[args.ocpp](
        args.host,
        args.port,
        password=args.password,
        heartbeat_interval=args.heartbeat_interval,
        boot_status=args.boot_status,
        boot_interval=args.boot_interval,
        ssl=server_tls(args.tls_cert, args.tls_key, args.tls_client_ca) if args.tls_cert else None,
    )
    csms.auth = dict(item.split("=", 1) for item in args.tag)
    csms.unknown_tags_status = args.unknown_tags_status
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            await csms.start()
        except OSError as exc:
            log.error("cannot listen on %s:%s: %s", args.host, args.port, exc)
            return 1
        await stop.wait()
        log.info("stopping")
        await csms.stop()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if csms.ledger.violations:
        log.info("%d violation(s) seen:", len(csms.ledger.violations))
        for violation in csms.ledger.violations:
            log.info("  %s", violation)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run a CSMS until SIGINT/SIGTERM; the exit code."""
    args = _parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(message)s",
    )
    if not args.verbose:
        # the ocpp package's own lines (see session.ocpp_log): ours say it all
        logging.getLogger("chargerd.csms.ocpp").setLevel(logging.CRITICAL)
        logging.getLogger("websockets").setLevel(logging.WARNING)
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        return 0
