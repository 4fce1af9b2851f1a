"""`chargerd demo [--ocpp 1.6|2.0.1]`: a simulated station and a development CSMS play one
charging session (plug, card, charge, card, unplug), every OCPP message shown live.

Everything runs in this process on 127.0.0.1; state lives in a temporary directory. Each
OCPP version has a `Script`: its `ocpp:` block, its CSMS, one-line summaries of its
messages and the session it plays.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chargerd.config import load_config
from chargerd.daemon import Daemon
from hal.registry import build_hardware

from .ledger import LedgerEntry
from .server import CsmsServer
from .v16 import Csms
from .v201 import Csms201

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
TAG = "04A2B3C4D5"
CHARGE_S = 8
HALF_A = 16  # the smart-charging step: the CSMS halves the 32 A mid-session
ENERGY = "Energy.Active.Import.Register"


class Narrator:
    """Prints what the driver does ('>>>' lines) and each message, timed from the start."""

    def __init__(self, summarise: Callable[[str, dict], str], answer: Callable[[dict], str]):
        self.t0 = time.monotonic()
        self.summarise = summarise  # one line per message of the version
        self.answer = answer

    def say(self, text: str) -> None:
        print(f"\n[{time.monotonic() - self.t0:5.1f} s] >>> {text}", flush=True)

    def message(self, station: str, direction: str, action: str, payload: dict[str, Any]) -> None:
        arrow = "station → CSMS" if direction == "in" else "CSMS → station"
        summary = self.summarise(action, payload) if direction == "in" else self.answer(payload)
        print(f"[{time.monotonic() - self.t0:5.1f} s]     {arrow}  {action:<28} {summary}",
              flush=True)  # fmt: skip


# (csms, daemon, simulated hardware, narrator) -> exit code
PlaySession = Callable[[Any, Daemon, Any, Narrator], Awaitable[int]]


@dataclass(frozen=True)
class Script:
    """What the demo needs of one OCPP version."""

    name: str  # as the title says it
    ocpp: str  # the station's `ocpp:` block: heartbeat every 60 s, meter values every 2 s
    csms: type[CsmsServer]
    summarise: Callable[[str, dict], str]  # a received CALL in one line
    answer: Callable[[dict], str]  # an answer of the CSMS in one line
    session: PlaySession


def _values(meter_values: list[dict]) -> dict[str, Any]:
    """Measurand → value of the phase-less sampled values (energy when none is named)."""
    return {
        v.get("measurand", ENERGY): v["value"]
        for mv in meter_values
        for v in mv.get("sampledValue", [])
        if not v.get("phase")
    }


# --------------------------------------------------------------------------- OCPP 1.6J


def _profile(p: dict[str, Any]) -> str | None:
    """A SetChargingProfile request in one line (either version), None for anything else."""
    profile = p.get("csChargingProfiles") or p.get("chargingProfile")
    if profile is None:
        return None
    schedule = profile["chargingSchedule"]
    schedule = schedule[0] if isinstance(schedule, list) else schedule
    limits = ", ".join(f"{q['limit']:g} {schedule['chargingRateUnit']}"
                       for q in schedule["chargingSchedulePeriod"])  # fmt: skip
    return f"{profile['chargingProfilePurpose']} {limits}"


def answer16(p: dict[str, Any]) -> str:
    if (profile := _profile(p)) is not None:
        return profile
    if "transactionId" in p:
        return f"transaction id {p['transactionId']}"
    if "idTagInfo" in p:
        return f"card {p['idTagInfo'].get('status')}"
    if "status" in p:
        return str(p["status"]) + (f", heartbeat {p['interval']} s" if "interval" in p else "")
    return "ok"


def summarise16(action: str, p: dict[str, Any]) -> str:
    if action == "StatusNotification":
        error = "" if p.get("errorCode") in (None, "NoError") else f"  error {p['errorCode']}"
        return f"connector {p.get('connectorId')}: {p.get('status')}{error}"
    if action == "MeterValues":
        values = _values(p.get("meterValue", []))
        power = values.get("Power.Active.Import")
        power_text = f", {float(power) / 1000:.1f} kW" if power else ""
        return f"connector {p.get('connectorId')}: meter {values.get(ENERGY, '?')} Wh{power_text}"
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
    if action == "SetChargingProfile":
        return str(p.get("status"))
    return ""


async def _limit_mid_session(
    csms: CsmsServer, daemon: Daemon, narrator: Narrator, request: dict[str, Any]
) -> bool:
    """The CSMS sends SetChargingProfile; True once the EV's draw has followed."""
    answer = await csms.call(daemon.config.station.id, "SetChargingProfile", request)
    if answer.get("status") != "Accepted":
        print(f"\ndemo failed: SetChargingProfile answered {answer}")
        return False
    await _ev_follows(daemon, narrator, HALF_A)
    return True


async def _ev_follows(daemon: Daemon, narrator: Narrator, amps: float) -> None:
    """Wait until the simulated EV on connector 1 draws `amps` (its meter says so)."""
    deadline = time.monotonic() + 5
    while True:
        reading = daemon.station.readings.get(1)
        drawn = max(reading.current_a) if reading and reading.current_a else 0.0
        if abs(drawn - amps) < 0.1:
            kw = reading.power_w / 1000 if reading else 0.0
            narrator.say(f"The station offers {amps:g} A; the EV now draws {drawn:.1f} A per "
                         f"phase ({kw:.1f} kW)")  # fmt: skip
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the EV draws {drawn:.1f} A, not {amps:g} A")
        await asyncio.sleep(0.1)


def _tx_profile(tx_id: Any, schedule: Any) -> dict[str, Any]:
    """A TxProfile for the running transaction (the id key: 1.6 chargingProfileId, 2.0.1 id)."""
    return {"transactionId": tx_id, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative", "chargingSchedule": schedule}  # fmt: skip


def _status16(connector: int, status: str) -> Callable[[LedgerEntry], bool]:
    return lambda e: (
        e.direction == "in"
        and e.action == "StatusNotification"
        and e.payload.get("connectorId") == connector
        and e.payload.get("status") == status
    )


async def session16(csms: Csms, daemon: Daemon, sim: Any, narrator: Narrator) -> int:
    """Plug, card, charge, card, unplug; the exit code."""
    narrator.say("The station starts and connects to the CSMS")
    await csms.wait_for(lambda e: e.action == "StatusNotification"
                        and e.payload.get("connectorId") == 2, timeout=10)  # fmt: skip
    mark = len(csms.ledger.entries)
    narrator.say("A car is plugged into connector 1")
    sim.plug(1)
    await csms.wait_for(_status16(1, "Preparing"), after=mark)
    narrator.say(f"The driver holds RFID card {TAG} to the reader")
    await daemon.sim_command("tag", [TAG])
    await csms.wait_for(_status16(1, "Charging"), after=mark)
    narrator.say(f"Charging at 32 A on 3 phases for {CHARGE_S} s (meter values every 2 s)")
    await asyncio.sleep(CHARGE_S / 2)
    narrator.say(f"Smart charging: the CSMS limits this transaction to {HALF_A} A (TxProfile)")
    schedule = {"chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": HALF_A}]}  # fmt: skip
    profile = {"chargingProfileId": 1,
               **_tx_profile(next(iter(csms.ledger.transactions)), schedule)}  # fmt: skip
    request = {"connectorId": 1, "csChargingProfiles": profile}
    if not await _limit_mid_session(csms, daemon, narrator, request):
        return 1
    await asyncio.sleep(CHARGE_S / 2)
    narrator.say("The driver holds the card to the reader again to stop")
    await daemon.sim_command("tag", [TAG])
    stop = await csms.wait_for("StopTransaction", after=mark)
    await csms.wait_for(_status16(1, "Finishing"), after=mark)
    narrator.say("The driver unplugs the car")
    sim.unplug(1)
    await csms.wait_for(_status16(1, "Available"), after=mark)
    await asyncio.sleep(0.2)  # let the last answer reach the station before both stop

    tx = csms.ledger.transactions[stop.payload["transactionId"]]
    energy = (tx.meter_stop or 0) - tx.meter_start
    print(f"\nSession done: transaction {stop.payload['transactionId']}, {energy} Wh delivered "
          f"(meter {tx.meter_start} → {tx.meter_stop} Wh).")  # fmt: skip
    if _problems(csms):
        return 1
    print("The CSMS checked every message against the OCPP 1.6 schemas: no problems.")
    print("Next: `chargerd run --config config/sim.yaml` with `scripts/dev-csms`, "
          "and drive it with `chargerctl --socket state/control.sock sim plug 1`.")  # fmt: skip
    return 0


# --------------------------------------------------------------------------- OCPP 2.0.1


def answer201(p: dict[str, Any]) -> str:
    if (profile := _profile(p)) is not None:
        return profile
    if "idTokenInfo" in p:
        return f"card {p['idTokenInfo'].get('status')}"
    if "status" in p:
        return str(p["status"]) + (f", heartbeat {p['interval']} s" if "interval" in p else "")
    return "ok"


def summarise201(action: str, p: dict[str, Any]) -> str:
    if action == "StatusNotification":
        return f"EVSE {p.get('evseId')}: {p.get('connectorStatus')}"
    if action == "TransactionEvent":
        info = p["transactionInfo"]
        text = f"{p['eventType']} #{p['seqNo']} ({p['triggerReason']})"
        if "chargingState" in info:
            text += f" {info['chargingState']}"
        if "stoppedReason" in info:
            text += f", reason {info['stoppedReason']}"
        values = _values(p.get("meterValue", [])[-1:])
        if ENERGY in values:
            text += f", meter {values[ENERGY]} Wh"
        if "Power.Active.Import" in values:
            text += f", {float(values['Power.Active.Import']) / 1000:.1f} kW"
        return text
    if action == "MeterValues":
        return f"EVSE {p.get('evseId')}: meter {_values(p.get('meterValue', [])).get(ENERGY)} Wh"
    if action == "BootNotification":
        station = p.get("chargingStation", {})
        return f"{station.get('vendorName')} {station.get('model')} ({p.get('reason')})"
    if action == "Authorize":
        return f"card {p.get('idToken', {}).get('idToken')}"
    if action == "NotifyEvent":
        data = p.get("eventData", [{}])[0]
        return f"{data.get('component', {}).get('name')} {data.get('variable', {}).get('name')}"
    if action == "SetChargingProfile":
        return str(p.get("status"))
    return ""


def _event201(kind: str, **info: Any) -> Callable[[LedgerEntry], bool]:
    def matches(e: LedgerEntry) -> bool:
        return (
            e.direction == "in"
            and e.kind == "call"
            and e.action == "TransactionEvent"
            and e.payload.get("eventType") == kind
            and all(e.payload["transactionInfo"].get(k) == v for k, v in info.items())
        )

    return matches


def _status201(evse: int, status: str) -> Callable[[LedgerEntry], bool]:
    return lambda e: (
        e.direction == "in"
        and e.action == "StatusNotification"
        and e.payload.get("evseId") == evse
        and e.payload.get("connectorStatus") == status
    )


async def session201(csms: Csms201, daemon: Daemon, sim: Any, narrator: Narrator) -> int:
    """Plug, card, charge, card, unplug; the exit code."""
    narrator.say("The station starts and connects to the CSMS")
    await csms.wait_for(_status201(2, "Available"), timeout=10)
    mark = len(csms.ledger.entries)
    narrator.say("A car is plugged into EVSE 1")
    sim.plug(1)
    await csms.wait_for(_status201(1, "Occupied"), after=mark)
    narrator.say(f"The driver holds RFID card {TAG} to the reader")
    await daemon.sim_command("tag", [TAG])
    started = await csms.wait_for(_event201("Started"), after=mark)
    await csms.wait_for(_event201("Updated", chargingState="Charging"), after=mark)
    narrator.say(f"Charging at 32 A on 3 phases for {CHARGE_S:.0f} s (meter values every 2 s)")
    await asyncio.sleep(CHARGE_S / 2)
    narrator.say(f"Smart charging: the CSMS limits this transaction to {HALF_A} A (TxProfile)")
    schedule = [{"id": 1, "chargingRateUnit": "A",
                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": HALF_A}]}]  # fmt: skip
    tx_id = started.payload["transactionInfo"]["transactionId"]
    request = {"evseId": 1, "chargingProfile": {"id": 1, **_tx_profile(tx_id, schedule)}}
    if not await _limit_mid_session(csms, daemon, narrator, request):
        return 1
    await asyncio.sleep(CHARGE_S / 2)
    narrator.say("The driver holds the card to the reader again to stop")
    await daemon.sim_command("tag", [TAG])
    await csms.wait_for(_event201("Ended"), after=mark)
    narrator.say("The driver unplugs the car")
    sim.unplug(1)
    await csms.wait_for(_status201(1, "Available"), after=mark)
    await asyncio.sleep(0.2)  # let the last answer reach the station before both stop

    tx_id = started.payload["transactionInfo"]["transactionId"]
    tx = csms.ledger.transactions[tx_id]
    readings = [
        float(v["value"])
        for mv in tx.meter_values
        for v in mv["sampledValue"]
        if v.get("measurand", ENERGY) == ENERGY
    ]
    energy = round(max(readings) - min(readings)) if readings else 0
    print(
        f"\nSession done: transaction {tx_id}, {energy} Wh delivered in {len(tx.events)} "
        f"TransactionEvents (seqNo {tx.seq_nos[0]}..{tx.seq_nos[-1]})."
    )
    if _problems(csms):
        return 1
    print("The CSMS checked every message against the OCPP 2.0.1 schemas and the seqNo rules: "
          "no problems.")  # fmt: skip
    print("Next: `chargerd run --config config/sim.yaml` (csms.ocpp_version: \"2.0.1\") with "
          "`scripts/dev-csms --ocpp 2.0.1`.")  # fmt: skip
    return 0


# --------------------------------------------------------------------------- running it


def _problems(csms: CsmsServer) -> bool:
    problems = csms.ledger.violations
    if problems:
        print(f"The CSMS found {len(problems)} protocol problem(s): {problems}")
    return bool(problems)


SCRIPTS = {
    "1.6": Script(
        "1.6J",
        "{HeartbeatInterval: 60, MeterValueSampleInterval: 2}",
        Csms,
        summarise16,
        answer16,
        session16,
    ),
    "2.0.1": Script(
        "2.0.1",
        "{OCPPCommCtrlr: {HeartbeatInterval: 60}, SampledDataCtrlr: {TxUpdatedInterval: 2}}",
        Csms201,
        summarise201,
        answer201,
        session201,
    ),
}


async def run_demo(version: str) -> int:
    """Play the session of OCPP `version`; the exit code."""
    script = SCRIPTS.get(version)
    if script is None:
        print(f"OCPP {version} is not available in this build; run `chargerd demo` for 1.6J")
        return 1
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    narrator = Narrator(script.summarise, script.answer)
    print("chargerd demo — a simulated 2-connector AC station and a local CSMS, "
          f"OCPP {script.name}")  # fmt: skip
    print("Every OCPP message between them is shown; '>>>' lines are what the driver does.")
    csms = script.csms(on_message=narrator.message, heartbeat_interval=60)
    await csms.start()
    with tempfile.TemporaryDirectory(prefix="chargerd-demo-") as state:
        yaml_path = Path(state) / "station.yaml"
        yaml_path.write_text(
            DEMO_YAML.format(url=csms.url, version=version, state=state, ocpp=script.ocpp)
        )
        config = load_config(yaml_path)
        hardware = await build_hardware(config)
        daemon = Daemon(config, hardware)
        running = asyncio.create_task(daemon.run())
        try:
            return await script.session(csms, daemon, hardware.sim, narrator)
        except TimeoutError as exc:
            print(f"\ndemo failed: {exc}")
            return 1
        finally:
            daemon.stop()
            await running
            await hardware.close()
            await csms.stop()
