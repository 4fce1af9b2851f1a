"""`chargerd demo`: a simulated station and the built-in CSMS play one charging session.

Everything runs in this process on 127.0.0.1; state lives in a temporary directory.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from .config import load_config

DEMO_YAML = """\
station: {{id: DEMO-01, vendor: chargerd, model: chargerd-sim}}
csms: {{url: "{url}", ocpp_version: "{version}", reconnect_min_s: 0.2, reconnect_max_s: 1}}
storage: {{dir: "{state}"}}
control: {{socket: "{state}/control.sock"}}
hal: {{driver: sim}}
connectors:
  - {{id: 1, max_current_a: 32, phases: 3}}
  - {{id: 2, max_current_a: 32, phases: 3}}
ocpp: {ocpp}
log: {{level: warning}}
"""
DEMO_OCPP = {  # the `ocpp:` block per version: heartbeat every 60 s, meter values every 2 s
    "1.6": "{HeartbeatInterval: 60, MeterValueSampleInterval: 2}",
    "2.0.1": "{OCPPCommCtrlr: {HeartbeatInterval: 60}, SampledDataCtrlr: {TxUpdatedInterval: 2}}",
}
TAG = "04A2B3C4D5"
CHARGE_S = 8


class Narrator:
    def __init__(self, summarise: Any = None, answer: Any = None) -> None:
        self.t0 = time.monotonic()
        self.summarise = summarise or _summarise  # one line per message of the version
        self.answer = answer or _answer

    def say(self, text: str) -> None:
        print(f"\n[{time.monotonic() - self.t0:5.1f} s] >>> {text}", flush=True)

    def message(self, station: str, direction: str, action: str, payload: dict[str, Any]) -> None:
        arrow = "station → CSMS" if direction == "in" else "CSMS → station"
        summary = self.summarise(action, payload) if direction == "in" else self.answer(payload)
        print(f"[{time.monotonic() - self.t0:5.1f} s]     {arrow}  {action:<28} {summary}",
              flush=True)  # fmt: skip


def _answer(p: dict[str, Any]) -> str:
    if "transactionId" in p:
        return f"transaction id {p['transactionId']}"
    if "idTagInfo" in p:
        return f"card {p['idTagInfo'].get('status')}"
    if "status" in p:
        return str(p["status"]) + (f", heartbeat {p['interval']} s" if "interval" in p else "")
    return "ok"


def _summarise(action: str, p: dict[str, Any]) -> str:
    if action == "StatusNotification":
        error = "" if p.get("errorCode") in (None, "NoError") else f"  error {p['errorCode']}"
        return f"connector {p.get('connectorId')}: {p.get('status')}{error}"
    if action == "MeterValues":
        values = {
            v.get("measurand", "Energy.Active.Import.Register"): v["value"]
            for mv in p.get("meterValue", [])
            for v in mv.get("sampledValue", [])
            if not v.get("phase")
        }
        energy = values.get("Energy.Active.Import.Register", "?")
        power = values.get("Power.Active.Import")
        power_text = f", {float(power) / 1000:.1f} kW" if power else ""
        return f"connector {p.get('connectorId')}: meter {energy} Wh{power_text}"
    if action == "StartTransaction":
        return f"connector {p['connectorId']}, card {p['idTag']}, meter {p['meterStart']} Wh"
    if action == "StopTransaction":
        return (
            f"transaction {p['transactionId']}, meter {p['meterStop']} Wh, reason {p.get('reason')}"
        )
    if action == "BootNotification":
        return f"{p.get('chargePointVendor')} {p.get('chargePointModel')}"
    if action == "Authorize":
        return f"card {p.get('idTag')}"
    return ""


async def run_demo(version: str) -> int:
    if version not in DEMO_OCPP:
        print(f"OCPP {version} is not available in this build; run `chargerd demo` for 1.6J")
        return 1
    from hal.registry import build_hardware

    from .csms import Csms
    from .daemon import Daemon

    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    session: Any = _session
    if version == "2.0.1":
        from .csms201 import Csms201 as Csms  # type: ignore[assignment]
        from .ocpp201 import demo as demo201

        narrator = Narrator(demo201.summarise, demo201.answer)
        session = functools.partial(demo201.session, tag=TAG, charge_s=CHARGE_S)
    else:
        narrator = Narrator()
    name = "1.6J" if version == "1.6" else version
    print(f"chargerd demo — a simulated 2-connector AC station and a local CSMS, OCPP {name}")
    print("Every OCPP message between them is shown; '>>>' lines are what the driver does.")
    csms = Csms(on_message=narrator.message, heartbeat_interval=60)
    await csms.start()
    with tempfile.TemporaryDirectory(prefix="chargerd-demo-") as state:
        yaml_path = Path(state) / "station.yaml"
        yaml_path.write_text(
            DEMO_YAML.format(url=csms.url, version=version, state=state, ocpp=DEMO_OCPP[version])
        )
        config = load_config(yaml_path)
        hardware = await build_hardware(config)
        sim = hardware.sim
        daemon = Daemon(config, hardware)
        running = asyncio.create_task(daemon.run())
        try:
            return await session(csms, daemon, sim, narrator)
        except TimeoutError as exc:
            print(f"\ndemo failed: {exc}")
            return 1
        finally:
            daemon.stop()
            await running
            await hardware.close()
            await csms.stop()


async def _session(csms: Any, daemon: Any, sim: Any, narrator: Narrator) -> int:
    narrator.say("The station starts and connects to the CSMS")
    await csms.wait_for(lambda e: e.action == "StatusNotification"
                        and e.payload.get("connectorId") == 2, timeout=10)  # fmt: skip

    def status_is(connector: int, status: str):
        return lambda e: (
            e.direction == "in"
            and e.action == "StatusNotification"
            and e.payload.get("connectorId") == connector
            and e.payload.get("status") == status
        )

    mark = len(csms.ledger.entries)
    narrator.say("A car is plugged into connector 1")
    sim.plug(1)
    await csms.wait_for(status_is(1, "Preparing"), after=mark)
    narrator.say(f"The driver holds RFID card {TAG} to the reader")
    daemon.sim_command("tag", [TAG])
    await csms.wait_for(status_is(1, "Charging"), after=mark)
    narrator.say(f"Charging at 32 A on 3 phases for {CHARGE_S} s (meter values every 2 s)")
    await asyncio.sleep(CHARGE_S)
    narrator.say("The driver holds the card to the reader again to stop")
    daemon.sim_command("tag", [TAG])
    stop = await csms.wait_for("StopTransaction", after=mark)
    await csms.wait_for(status_is(1, "Finishing"), after=mark)
    narrator.say("The driver unplugs the car")
    sim.unplug(1)
    await csms.wait_for(status_is(1, "Available"), after=mark)
    await asyncio.sleep(0.2)  # let the last answer reach the station before both stop

    tx = csms.ledger.transactions[stop.payload["transactionId"]]
    energy = tx.meter_stop - tx.meter_start
    problems = csms.ledger.violations
    print(f"\nSession done: transaction {stop.payload['transactionId']}, {energy} Wh delivered "
          f"(meter {tx.meter_start} → {tx.meter_stop} Wh).")  # fmt: skip
    if problems:
        print(f"The CSMS found {len(problems)} protocol problem(s): {problems}")
        return 1
    print("The CSMS checked every message against the OCPP 1.6 schemas: no problems.")
    print("Next: `chargerd run --config config/sim.yaml` with `scripts/dev-csms`, "
          "and drive it with `chargerctl --socket state/control.sock sim plug 1`.")  # fmt: skip
    return 0
