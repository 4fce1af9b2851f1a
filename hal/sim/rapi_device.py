"""A simulated OpenEVSE controller serving RAPI on a pty, for tests and `chargerctl sim`.

The driver (`hal.drivers.rapi.RapiController`) opens `RapiDevice.port`, the slave side of
a pty (rapi_wire.py). The EV and the current it draws are a `SimController`, so a
`SimMeter` built on `device.controller` measures what the EV takes through this device.
Beside it: rapi_heartbeat.py, rapi_lock.py, rapi_energy.py and rapi_lcd.py, the parts of
the firmware with a state of their own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from typing import Literal

from hal.drivers.rapi_protocol import (
    CODE_BY_PILOT,
    EVSE_DISABLED,
    EVSE_SLEEPING,
    FAULT_BY_STATE,
    MIN_OFFER_A,
    VFLAG_CHARGING_ON,
    VFLAG_EV_CONNECTED,
    FrameError,
    RapiFrame,
    frame,
    parse,
)
from hal.interfaces import HalEvent, PilotChanged, PilotState
from hal.sim.controller import SimController
from hal.sim.rapi_energy import SessionEnergy
from hal.sim.rapi_heartbeat import HeartbeatSupervision
from hal.sim.rapi_lcd import Lcd, fp_text
from hal.sim.rapi_lock import CableLock
from hal.sim.rapi_wire import DeviceLine

log = logging.getLogger(__name__)

Mode = Literal["enabled", "sleeping", "disabled"]
MODE_BY_COMMAND: dict[str, Mode] = {"FE": "enabled", "FS": "sleeping", "FD": "disabled"}
PROTOCOL_VERSION = "5.2.1"


class RapiDevice:
    """An OpenEVSE controller on a pty: answers RAPI, sends `$AT` and `$AB`.

    Commands: SC (clamped to `min_current_a`..`max_current_a`, `$NK amps` when clamped;
    without V the value also becomes the boot value), FE / FS / FD / FR, SY (heartbeat
    supervision, with `heartbeat=True`), G5 / S5 (Mennekes lock, with `has_lock=True`: a
    J1772 build has neither), GS G0 GC GE GG GU GV GY, SK, F0 and FP (the LCD: `lcd`, as
    the firmware reads FP, hal/sim/rapi_lcd.py). Anything else, and every
    command named in `refuse` (as if compiled out of this firmware build): `$NK`.

    `rapi_version` below 3.0.0 is firmware without sequence ids: it replies without one and
    takes a `:ss` for one more argument, as the real firmware does (so `SC 16 V :01` is
    refused there: SC takes one or two arguments).

    The relay closes in pilot C while enabled and without fault. `$AT` goes out on every
    change of (evsestate, pilot, current, vflags), the pilot field while asleep too.
    `reboot()` forgets the volatile current and comes back enabled, as the firmware does.

    A `controller` passed in is driven by this device (its event sink is the device's):
    do not also hand it to the daemon as an EvseController.
    """

    def __init__(
        self,
        connector: int = 1,
        *,
        controller: SimController | None = None,
        max_current_a: int = 32,
        min_current_a: int = MIN_OFFER_A,
        ev_max_current_a: float = 32.0,
        voltage_v: float = 230.0,
        heartbeat: bool = True,
        has_lock: bool = False,
        firmware: str = "5.1.0",
        rapi_version: str = PROTOCOL_VERSION,
        refuse: Collection[str] = (),
    ) -> None:
        self._controller = controller or SimController(connector, ev_max_current_a=ev_max_current_a)
        self.max_current_a = max_current_a
        self.min_current_a = min_current_a
        self.voltage_v = voltage_v
        self.firmware = firmware
        self.rapi_version = rapi_version
        self.sequence_ids = _version(rapi_version) >= (3, 0, 0)
        self.refuse = {command.upper() for command in refuse}
        self.lock = CableLock(has_lock)
        self.heartbeat_supported = heartbeat
        self.reply_delay_s = 0.0  # answer this much later (tests of late replies)
        self.received: list[RapiFrame] = []  # every command understood, in order
        self.lcd = Lcd()
        self._line = b""  # the command line being handled, as it came (FP keeps its spaces)
        self._boot_amps = max_current_a  # the EEPROM value
        self._amps = max_current_a
        self._mode: Mode = "enabled"
        self._fault: int | None = None
        self._hs = HeartbeatSupervision(self.expire_heartbeat)
        self.energy = SessionEnergy()
        self._last_at: tuple[int, int, int, int] | None = None
        self._wire = DeviceLine()
        self._worker: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()
        self._controller.add_flow_listener(self._integrate)

    # --- for the driver and for tests ---------------------------------------------------

    @property
    def port(self) -> str:
        """The pty slave path the driver opens (after start())."""
        return self._wire.port

    @property
    def lines_heard(self) -> int:
        """Every line that reached the device, also while silent."""
        return self._wire.lines_heard

    @property
    def controller(self) -> SimController:
        """The EV model and the current it draws (build a SimMeter on it)."""
        return self._controller

    @property
    def pilot_amps(self) -> int:
        return self._amps

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def evse_state(self) -> int:
        if self._fault is not None:
            return self._fault
        if self._mode == "disabled":
            return EVSE_DISABLED
        if self._mode == "sleeping":
            return EVSE_SLEEPING
        return CODE_BY_PILOT[self._controller.pilot]

    @property
    def heartbeat_interval_s(self) -> int:
        return self._hs.interval_s

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 2.0) -> None:
        """Wait until `predicate()` holds, checked after each command and state change."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    # --- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._wire.open()
        self._worker = asyncio.create_task(self._work(), name="rapi-device")
        await self._controller.start(self._on_sim_event)
        self._boot()

    async def stop(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            await asyncio.wait({worker}, timeout=1.0)
        self._hs.cancel()
        self._wire.close()
        await self._controller.stop()

    # --- the EV and the environment -----------------------------------------------------

    def plug(self) -> None:
        self._controller.plug()

    def unplug(self) -> None:
        self._controller.unplug()

    def ev_pause(self) -> None:
        self._controller.ev_pause()

    def ev_resume(self) -> None:
        self._controller.ev_resume()

    def fault(self, evse_state_code: int) -> None:
        """Enter a fault evsestate (0x05..0x0E, see FAULT_BY_STATE): the relay opens."""
        if evse_state_code not in FAULT_BY_STATE:
            known = ", ".join(f"{code:02X}" for code in FAULT_BY_STATE)
            raise ValueError(f"not a RAPI fault state: {evse_state_code:02X}; known: {known}")
        self._fault = evse_state_code
        self._wire.nudge()

    def clear(self) -> None:
        """Leave the fault state: back to enabled, asleep or disabled as before."""
        self._fault = None
        self._wire.nudge()

    def reboot(self) -> None:
        """The firmware restarts: volatile settings gone, enabled at the boot current."""
        self._amps = self._boot_amps
        self._mode = "enabled"
        self._fault = None
        self._hs.reboot()
        self.lock.reboot()
        self._boot()

    def go_silent(self, silent: bool) -> None:
        """Stop (True) or resume (False) answering and notifying, like a cut line."""
        self._wire.silent = silent

    def expire_heartbeat(self) -> None:
        """The heartbeat interval runs out now, as if the daemon had stopped pulsing.

        As the firmware: fall back to the fallback current (never below the minimum),
        flag the miss (pulses get NK until `$SY 165`), and wait a new interval."""
        self._hs.miss()
        self._amps = min(self._amps, max(self._hs.fallback_a, self.min_current_a))
        self._wire.nudge()

    def inject(self, raw: bytes) -> None:
        """Put raw bytes on the line (noise, forged frames)."""
        self._wire.write(raw, force=True)

    # --- RAPI ---------------------------------------------------------------------------

    def _boot(self) -> None:
        self._hs.arm()
        self._last_at = None
        self._send(f"AB 00 {self.firmware}")
        self._wire.nudge()

    def _handle(self, f: RapiFrame) -> None:
        if f.seq is not None and not self.sequence_ids:
            f = RapiFrame(f.command, (*f.args, f":{f.seq:02X}"), None)
        self.received.append(f)
        try:
            handler = getattr(self, f"_cmd_{f.command.lower()}")
        except AttributeError:
            self._reply(f, False)
            return
        if f.command in self.refuse:
            self._reply(f, False)
            return
        handler(f)

    def _cmd_gs(self, f: RapiFrame) -> None:
        elapsed = self.energy.elapsed_s()
        pilot = CODE_BY_PILOT[self._controller.pilot]
        self._reply(f, True, f"{self.evse_state:02x} {elapsed} {pilot:02x} {self._vflags():04x}")

    def _cmd_g0(self, f: RapiFrame) -> None:
        self._reply(f, True, "1" if self._controller.plugged else "0")

    def _cmd_gc(self, f: RapiFrame) -> None:
        top = self.max_current_a
        self._reply(f, True, f"{self.min_current_a} {top} {self._amps} {top}")

    def _cmd_ge(self, f: RapiFrame) -> None:
        self._reply(f, True, f"{self._amps} 0000")

    def _cmd_gg(self, f: RapiFrame) -> None:
        milliamps = round(self._controller.current_a * 1000)
        self._reply(f, True, f"{milliamps} {round(self.voltage_v * 1000)}")

    def _cmd_gu(self, f: RapiFrame) -> None:
        self._integrate()
        self._reply(f, True, f"{int(self.energy.session_ws)} {int(self.energy.total_wh)}")

    def _cmd_gv(self, f: RapiFrame) -> None:
        self._reply(f, True, f"{self.firmware} {self.rapi_version}")

    def _cmd_f0(self, f: RapiFrame) -> None:
        self.lcd.updates(f.args[0] != "0")
        self._reply(f, True)

    def _cmd_fp(self, f: RapiFrame) -> None:
        printed = fp_text(self._line)
        if printed is not None:
            self.lcd.print(*printed)
        self._reply(f, printed is not None)

    def _cmd_sk(self, f: RapiFrame) -> None:
        self._reply(f, True)

    def _cmd_fe(self, f: RapiFrame) -> None:
        self._mode = MODE_BY_COMMAND[f.command]
        self._reply(f, True)

    _cmd_fs = _cmd_fd = _cmd_fe  # sleep, disable

    def _cmd_fr(self, f: RapiFrame) -> None:
        self._reply(f, True)
        self.reboot()

    def _cmd_sc(self, f: RapiFrame) -> None:
        try:
            wanted = int(f.args[0])
        except (IndexError, ValueError):
            self._reply(f, False)
            return
        if len(f.args) > 2:
            self._reply(f, False)
            return
        if f.args[1:2] == ("M",):
            self._reply(f, False, str(self._amps))
            return
        self._amps = max(self.min_current_a, min(wanted, self.max_current_a))
        if len(f.args) == 1:  # no V: saved, survives a reboot
            self._boot_amps = self._amps
        self._reply(f, self._amps == wanted, str(self._amps))

    def _cmd_sy(self, f: RapiFrame) -> None:
        if not self.heartbeat_supported:
            self._reply(f, False)
            return
        ok, acknowledged = self._hs.command(f.args)
        if acknowledged:
            self._amps = self.max_current_a
        self._reply(f, ok, self._hs.state)

    def _cmd_gy(self, f: RapiFrame) -> None:
        self._reply(f, self.heartbeat_supported, self._hs.state if self.heartbeat_supported else "")

    def _cmd_g5(self, f: RapiFrame) -> None:
        self._reply(f, self.lock.present, self.lock.state(self._controller.locked))

    def _cmd_s5(self, f: RapiFrame) -> None:
        self._reply(f, self.lock.command(f.args))

    def _reply(self, f: RapiFrame, ok: bool, text: str = "") -> None:
        data = frame(("OK" if ok else "NK") + (f" {text}" if text else ""), f.seq)
        if self.reply_delay_s > 0:
            asyncio.get_running_loop().call_later(self.reply_delay_s, self._wire.write, data)
        else:
            self._wire.write(data)

    def _send(self, command: str) -> None:
        self._wire.write(frame(command, None))

    # --- physics ------------------------------------------------------------------------

    def _vflags(self) -> int:
        flags = VFLAG_EV_CONNECTED if self._controller.plugged else 0
        return flags | (VFLAG_CHARGING_ON if self._controller.contactor_closed else 0)

    async def _settle(self) -> None:
        """Bring the EV model in line with the mode, then report a changed state."""
        c = self._controller
        live = self._mode == "enabled" and self._fault is None
        offer = float(self._amps) if live else 0.0
        if c.offered_a != offer:
            await c.offer_current(offer)
        relay = live and c.pilot is PilotState.C
        if c.contactor_closed != relay:
            await c.set_contactor(relay)
        if self.lock.wanted is not None and c.locked != self.lock.wanted:
            await c.set_lock(self.lock.wanted)
        if c.pilot is PilotState.C and relay:
            self.energy.charging()
        at = (self.evse_state, CODE_BY_PILOT[c.pilot], self._amps, self._vflags())
        if at != self._last_at and not self._wire.silent:
            self._last_at = at
            self._send(f"AT {at[0]:02x} {at[1]:02x} {at[2]} {at[3]:04x}")

    def _integrate(self) -> None:
        self.energy.flowed(self._controller.current_a, self.voltage_v)

    # --- the line -----------------------------------------------------------------------

    def _on_sim_event(self, event: HalEvent) -> None:
        if isinstance(event, PilotChanged) and event.state is PilotState.A:
            self.energy.new_session()
        self._wire.nudge()

    async def _work(self) -> None:
        while True:
            line = await self._wire.next()
            if line is not None:
                start = line.rfind(b"$")  # the firmware waits for '$': noise before is lost
                if start >= 0:
                    self._line = line[start:]
                    try:
                        command = parse(line[start:])
                    except FrameError as exc:
                        log.debug("rapi device: %s", exc)
                        self._wire.write(frame("NK", None))  # as the firmware: NK, no sequence id
                    else:
                        try:
                            self._handle(command)
                        except (IndexError, ValueError):  # arguments it cannot read
                            self._reply(command, False)
            await self._settle()
            async with self._changed:
                self._changed.notify_all()


def _version(text: str) -> tuple[int, ...]:
    """A version as numbers: 5.2.1 → (5, 2, 1); a part that is not a number counts as 0."""
    return tuple(int(part) if part.isdigit() else 0 for part in text.split("."))
