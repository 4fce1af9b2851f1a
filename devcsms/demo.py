"""`chargerd demo [--ocpp 1.6|2.0.1]`: a simulated station and a development CSMS play one
charging session (plug, card, charge, card, unplug), every OCPP message shown live.

Everything runs in this process on 127.0.0.1; state lives in a temporary directory. Each
OCPP version has a `Script`: its `ocpp:` block, its CSMS, one-line summaries of its
messages (narration.py) and the session it plays (demo_sessions.py).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chargerd.config import load_config
from chargerd.daemon import Daemon
from hal.registry import build_hardware

from .demo_sessions import session16, session201
from .narration import Narrator, summarise16, summarise201
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
CHARGE_S = 8  # how long the EV charges: half before the CSMS's limit, half after

# (csms, daemon, simulated hardware, narrator, charging seconds) -> exit code
PlaySession = Callable[[Any, Daemon, Any, Narrator, float], Awaitable[int]]


@dataclass(frozen=True)
class Script:
    """What the demo needs of one OCPP version."""

    name: str  # as the title says it
    ocpp: str  # the station's `ocpp:` block: heartbeat every 60 s, meter values every 2 s
    csms: type[CsmsServer]
    summarise: Callable[[str, dict], str]  # a received CALL in one line
    session: PlaySession


SCRIPTS = {
    "1.6": Script(
        "1.6J",
        "{HeartbeatInterval: 60, MeterValueSampleInterval: 2}",
        Csms,
        summarise16,
        session16,
    ),
    "2.0.1": Script(
        "2.0.1",
        "{OCPPCommCtrlr: {HeartbeatInterval: 60}, SampledDataCtrlr: {TxUpdatedInterval: 2}}",
        Csms201,
        summarise201,
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
    narrator = Narrator(script.summarise)
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
            return await script.session(csms, daemon, hardware.sim, narrator, CHARGE_S)
        except TimeoutError as exc:
            print(f"\ndemo failed: {exc}")
            return 1
        finally:
            daemon.stop()
            await running
            await hardware.close()
            await csms.stop()
