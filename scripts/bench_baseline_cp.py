#!/usr/bin/env python3
"""Reference points for scripts/bench: what a charge point costs without chargerd.

Two modes, each run as its own process by scripts/bench:

  bench_baseline_cp.py cp --url WS_URL --id STATION --control SOCKET [--sample-interval S]
      A minimal OCPP 1.6 charge point written directly on the `ocpp` package
      (`ocpp.v16.ChargePoint` on a `websockets` client): BootNotification, heartbeats,
      StatusNotification, and — so that the same bench steps can drive it — a bare
      session (Authorize, StartTransaction, MeterValues every S seconds,
      StopTransaction). No persistence, no offline queue, no reconnect, no hardware
      layer, no configuration: only what the `ocpp` package does for a CP.
      It answers the same control-socket lines as chargerd
      ({"cmd": "sim", "args": ["plug", "1"]}, ..., {"cmd": "status"}), so the bench
      measures both with one code path.

  bench_baseline_cp.py bare --url WS_URL --id STATION --count N
                        [--action Heartbeat|MeterValues|Transactions|Frames --frames FILE]
      The bound of any OCPP-J sender: a raw websocket loop (the `websockets` client and
      `json`, no `ocpp` package) that sends one CALL, waits for its CALLRESULT, and sends
      the next. Prints one JSON line {"count": N, "seconds": ..., "msgs_per_s": ...}.
      Frames: the CALLs in FILE, in order ([action, payload, transaction id the CSMS
      answered to a StartTransaction]), as a station's replay sent them; later
      transactionIds are changed to the ids this loop's own StartTransactions got.

      bench_baseline_cp.py ocpp-loop ... does the same through ocpp.v16.ChargePoint.call()
      (schema validation of request and answer, dataclass conversion) for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _meter_value(energy_wh: float, power_w: float) -> list[dict[str, Any]]:
    """The same shape chargerd sends by default (energy register + active power)."""
    return [
        {
            "timestamp": _now(),
            "sampledValue": [
                {
                    "value": f"{energy_wh:.0f}",
                    "context": "Sample.Periodic",
                    "measurand": "Energy.Active.Import.Register",
                    "location": "Outlet",
                    "unit": "Wh",
                },
                {
                    "value": f"{power_w:.0f}",
                    "context": "Sample.Periodic",
                    "measurand": "Power.Active.Import",
                    "location": "Outlet",
                    "unit": "W",
                },
            ],
        }
    ]


# --------------------------------------------------------------------------- the minimal CP


async def run_cp(args: argparse.Namespace) -> int:
    import logging

    import websockets
    from ocpp.v16 import ChargePoint, call

    logging.basicConfig(level=logging.WARNING)
    power_w = 3 * 230 * 32.0

    class MinimalCP(ChargePoint):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self.status: dict[int, str] = {}
            self.tx: dict[int, tuple[int, str, float]] = {}  # connector → (tx id, tag, t0)
            self.energy: dict[int, float] = {1: 0.0, 2: 0.0}
            self.meters: dict[int, asyncio.Task[None]] = {}
            self.sample_interval = args.sample_interval
            self.tasks: set[asyncio.Task[Any]] = set()

        def spawn(self, coro: Any) -> None:
            task = asyncio.ensure_future(coro)
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

        async def set_status(self, connector: int, status: str) -> None:
            self.status[connector] = status
            await self.call(
                call.StatusNotification(
                    connector_id=connector, error_code="NoError", status=status, timestamp=_now()
                )
            )

        def reading(self, connector: int) -> float:
            tx = self.tx.get(connector)
            if tx is not None:
                self.energy[connector] += power_w * (time.monotonic() - tx[2]) / 3600
                self.tx[connector] = (tx[0], tx[1], time.monotonic())
            return self.energy[connector]

        async def meter_loop(self, connector: int) -> None:
            while True:
                await asyncio.sleep(self.sample_interval)
                tx = self.tx.get(connector)
                if tx is None:
                    return
                await self.call(
                    call.MeterValues(
                        connector_id=connector,
                        transaction_id=tx[0],
                        meter_value=_meter_value(self.reading(connector), power_w),
                    )
                )

        async def tag(self, id_tag: str, connector: int) -> None:
            if connector in self.tx:
                tx_id = self.tx[connector][0]
                meter = round(self.reading(connector))
                self.tx.pop(connector)
                task = self.meters.pop(connector, None)
                if task:
                    task.cancel()
                await self.call(
                    call.StopTransaction(
                        meter_stop=meter,
                        timestamp=_now(),
                        transaction_id=tx_id,
                        reason="Local",
                        id_tag=id_tag,
                    )
                )
                await self.set_status(connector, "Finishing")
                return
            answer = await self.call(call.Authorize(id_tag=id_tag))
            if answer.id_tag_info["status"] != "Accepted":
                return
            start = await self.call(
                call.StartTransaction(
                    connector_id=connector,
                    id_tag=id_tag,
                    meter_start=round(self.energy[connector]),
                    timestamp=_now(),
                )
            )
            self.tx[connector] = (start.transaction_id, id_tag, time.monotonic())
            await self.set_status(connector, "Charging")
            self.meters[connector] = asyncio.ensure_future(self.meter_loop(connector))

        async def heartbeat(self, interval: int) -> None:
            while True:
                await asyncio.sleep(interval)
                await self.call(call.Heartbeat())

        def control(self, request: dict[str, Any]) -> dict[str, Any]:
            if request.get("cmd") == "status":
                return {
                    "ok": True,
                    "status": {
                        "outbox_depth": 0,
                        "link": {"state": "connected"},
                        "connectors": [
                            {"id": c, "status": self.status.get(c, "Available")} for c in (1, 2)
                        ],
                    },
                }
            argv = [str(a) for a in request.get("args", [])]
            if request.get("cmd") != "sim" or not argv:
                return {"ok": False, "error": "unknown command"}
            if argv[0] == "plug":
                self.spawn(self.set_status(int(argv[1]), "Preparing"))
            elif argv[0] == "unplug":
                self.spawn(self.set_status(int(argv[1]), "Available"))
            elif argv[0] == "tag":
                connector = int(argv[3]) if len(argv) > 3 and argv[2] == "--connector" else 1
                self.spawn(self.tag(argv[1], connector))
            else:
                return {"ok": False, "error": f"unknown sim command {argv[0]!r}"}
            return {"ok": True, "message": " ".join(argv)}

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async with websockets.connect(
        f"{args.url.rstrip('/')}/{args.id}", subprotocols=["ocpp1.6"], ping_interval=30
    ) as ws:
        cp = MinimalCP(args.id, ws, response_timeout=10)
        receiver = asyncio.ensure_future(cp.start())

        async def serve_control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
            try:
                while line := await reader.readline():
                    writer.write(json.dumps(cp.control(json.loads(line))).encode() + b"\n")
                    await writer.drain()
            except (ConnectionError, ValueError, asyncio.CancelledError):
                pass  # CancelledError: at exit (raising it here makes asyncio log noise)
            finally:
                writer.close()

        server = await asyncio.start_unix_server(serve_control, path=args.control)
        boot = await cp.call(
            call.BootNotification(charge_point_model="baseline", charge_point_vendor="bench")
        )
        for connector in (0, 1, 2):
            await cp.set_status(connector, "Available")
        beat = asyncio.ensure_future(cp.heartbeat(boot.interval or 300))
        waiter = asyncio.ensure_future(stop.wait())
        await asyncio.wait([receiver, waiter], return_when=asyncio.FIRST_COMPLETED)
        for task in (beat, receiver, waiter, *cp.meters.values(), *cp.tasks):
            task.cancel()
        server.close()
    try:
        os.unlink(args.control)
    except FileNotFoundError:
        pass
    return 0


# --------------------------------------------------------------------------- request loops


async def run_loop(args: argparse.Namespace, through_ocpp: bool) -> int:
    import websockets

    url = f"{args.url.rstrip('/')}/{args.id}"
    mv_payload = {"connectorId": 1, "meterValue": _meter_value(1234, 22080)}
    async with websockets.connect(url, subprotocols=["ocpp1.6"], ping_interval=None) as ws:
        boot = {"chargePointVendor": "bench", "chargePointModel": "bound"}
        await ws.send(json.dumps([2, "boot", "BootNotification", boot]))
        await ws.recv()
        if through_ocpp:
            from ocpp.v16 import ChargePoint, call

            cp = ChargePoint(args.id, ws, response_timeout=10)
            receiver = asyncio.ensure_future(cp.start())

            tx_id = 0

            async def send(i: int) -> None:
                nonlocal tx_id
                if args.action == "Heartbeat":
                    await cp.call(call.Heartbeat())
                elif args.action == "MeterValues":
                    await cp.call(
                        call.MeterValues(connector_id=1, meter_value=mv_payload["meterValue"])
                    )
                elif i % 2 == 0:
                    start = call.StartTransaction(
                        connector_id=1, id_tag="BOUND", meter_start=i, timestamp=_now()
                    )
                    answer = await cp.call(start)
                    tx_id = answer.transaction_id
                else:
                    stop = call.StopTransaction(
                        meter_stop=i, timestamp=_now(), transaction_id=tx_id, reason="Local"
                    )
                    await cp.call(stop)

            for i in range(20):  # warm-up
                await send(i)
            t0, cpu0 = time.perf_counter(), time.process_time()
            for i in range(20, 20 + args.count):
                await send(i)
            seconds = time.perf_counter() - t0
            receiver.cancel()
        else:
            tx_id = 0
            recorded = json.loads(Path(args.frames).read_text()) if args.frames else []
            own_ids: dict[Any, Any] = {}  # transaction id answered to the replay → to us

            def frame(i: int) -> list[Any]:
                if args.action == "Frames":
                    if i < 20:  # the warm-up
                        return [2, f"m{i}", "Heartbeat", {}]
                    action, payload, _ = recorded[i - 20]
                    if "transactionId" in payload:
                        tx = payload["transactionId"]
                        payload = {**payload, "transactionId": own_ids.get(tx, tx)}
                    return [2, f"m{i}", action, payload]
                if args.action == "Heartbeat":
                    return [2, f"m{i}", "Heartbeat", {}]
                if args.action == "MeterValues":
                    return [2, f"m{i}", "MeterValues", mv_payload]
                if i % 2 == 0:
                    start = {
                        "connectorId": 1,
                        "idTag": "BOUND",
                        "meterStart": i,
                        "timestamp": _now(),
                    }
                    return [2, f"m{i}", "StartTransaction", start]
                stop = {
                    "transactionId": tx_id,
                    "meterStop": i,
                    "timestamp": _now(),
                    "reason": "Local",
                }
                return [2, f"m{i}", "StopTransaction", stop]

            async def send(i: int) -> None:
                nonlocal tx_id
                message = frame(i)
                await ws.send(json.dumps(message))
                answer = json.loads(await ws.recv())
                if answer[0] != 3 or answer[1] != message[1]:
                    raise RuntimeError(f"unexpected answer {answer!r}")
                if message[2] == "StartTransaction":
                    tx_id = answer[2]["transactionId"]
                    if args.action == "Frames":
                        own_ids[recorded[i - 20][2]] = tx_id

            for i in range(20):  # warm-up
                await send(i)
            t0, cpu0 = time.perf_counter(), time.process_time()
            for i in range(20, 20 + args.count):
                await send(i)
            seconds = time.perf_counter() - t0
    cpu_ms = 1000 * (time.process_time() - cpu0) / args.count
    result = {"count": args.count, "seconds": seconds, "msgs_per_s": args.count / seconds}
    print(json.dumps({**result, "cpu_ms_per_msg": cpu_ms}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    cp = modes.add_parser("cp", help="a minimal charge point on the ocpp package")
    cp.add_argument("--url", required=True)
    cp.add_argument("--id", default="CP-BASE")
    cp.add_argument("--control", required=True, help="Unix socket for sim commands")
    cp.add_argument("--sample-interval", type=float, default=1.0)
    for name in ("bare", "ocpp-loop"):
        loop = modes.add_parser(name, help="request/response loop, one CALL outstanding")
        loop.add_argument("--url", required=True)
        loop.add_argument("--id", default="CP-BOUND")
        loop.add_argument("--count", type=int, default=1000)
        loop.add_argument(
            "--action", choices=["Heartbeat", "MeterValues", "Transactions", "Frames"],
            default="Heartbeat",
            help="Transactions: StartTransaction/StopTransaction pairs; Frames: --frames FILE",
        )  # fmt: skip
        loop.add_argument("--frames", metavar="FILE", help="JSON list of [action, payload, id]")
    args = parser.parse_args()
    if args.mode == "ocpp-loop" and args.action == "Frames":
        parser.error("--action Frames: bare mode only")
    if args.mode == "bare" and args.action == "Frames":
        if not args.frames:
            parser.error("--action Frames needs --frames FILE")
        args.count = len(json.loads(Path(args.frames).read_text()))
    if args.mode == "cp":
        return asyncio.run(run_cp(args))
    return asyncio.run(run_loop(args, through_ocpp=args.mode == "ocpp-loop"))


if __name__ == "__main__":
    sys.exit(main())
