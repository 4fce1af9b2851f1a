"""OpenEVSE RAPI over a serial port: the EVSE controller (pilot, offer, relay) of one connector.

The wire protocol (frames, state codes, fault table) is in hal/drivers/rapi_protocol.py,
the serial line in rapi_link.py, the start-up order and the optional features in
rapi_startup.py, what reports and silences mean in rapi_health.py, when the controller is
visited in rapi_rounds.py; `RapiController` here is what the daemon sees, and what a
visit (a round) does.
"""

from __future__ import annotations

import asyncio
import logging
import math

from hal.drivers.rapi_health import HOLD_OFF, LINK, Health, ReportedState
from hal.drivers.rapi_link import NoAnswer, PortFailed, RapiLink
from hal.drivers.rapi_protocol import (
    HEARTBEAT_ACK_COOKIE,
    MIN_OFFER_A,
    PILOT_BY_CODE,
    RapiFrame,
    int_arg,
    parse,
)
from hal.drivers.rapi_rounds import Rounds
from hal.drivers.rapi_startup import (
    Features,
    HoldOffRefused,
    hold_off,
    probe_features,
    read_state,
    restore_features,
)
from hal.interfaces import DeviceError, EventSink, HalEvent, PilotState

__all__ = ["RapiController", "parse"]

log = logging.getLogger(__name__)

MIN_RETRY_S = 0.5  # failing rounds (and wake-ups) never come closer than this


class RapiController:
    """EvseController of one connector behind an OpenEVSE controller speaking RAPI.

    - Start-up, and every resynchronisation (a reboot `$AB`, a reopened port): the EV is
      held off first (`$FS`, else `$FD`, checked with `GS`), then the optional features are
      probed (rapi_startup.py), then the daemon's offer is applied. Until that hold-off is
      confirmed, any unanswered request faults the connector (InternalError) at once; a
      refused hold-off faults it too, and it is tried again every retry interval.
    - Pilot changes come from the controller's `$AT` notifications (the pilot field, which
      reads A/B/C also while the controller sleeps); `GS` every `poll_interval_s` only
      resynchronises. Each state is emitted once. Fault evsestates raise the fault of
      `FAULT_BY_STATE` and clear it when left. A running controller that misses
      FAILURES_BEFORE_FAULT requests in a row, or whose port fails, raises InternalError;
      the port is reopened until it answers again.
    - The offer: ≥ 6 A → `$SC amps V` (volatile) + `$FE`; less → the hold-off. The
      controller closes its relay itself in C.
    - Heartbeat supervision (`$SY`), when the firmware has it: pulsed with every poll; if
      the pulses stop, the firmware drops the offer to its 6 A minimum. It cannot stop the
      charge: RAPI has no fallback to sleep.
    - Cable lock: the Mennekes lock (`$S5`) when the firmware has it (`has_lock`).

    A refused command is an answer, not a reason to retry at once: a failing round is
    followed by a pause of at least MIN_RETRY_S, whatever wakes the loop meanwhile.
    """

    def __init__(
        self,
        connector: int,
        *,
        port: str,
        baudrate: int = 115200,
        timeout_s: float = 1.0,
        max_current_a: float = 32.0,
        poll_interval_s: float = 5.0,
    ) -> None:
        self.connector = connector
        self.port = port
        self.timeout_s = timeout_s
        self.max_current_a = max_current_a
        self.poll_interval_s = poll_interval_s
        self.retry_s = max(timeout_s, MIN_RETRY_S)
        self._name = f"connector {connector}"
        self._link = RapiLink(
            port,
            baudrate=baudrate,
            timeout_s=timeout_s,
            on_notification=self._on_notification,
            on_port_failed=self._on_port_failed,
            name=self._name,
        )
        self._emit: EventSink | None = None
        self._apply_lock = asyncio.Lock()
        self._rounds = Rounds(
            self._round,
            poll_s=poll_interval_s,
            retry_s=self.retry_s,
            name=f"rapi-supervisor-{connector}",
        )
        # What the daemon wants; what was last applied (None: unknown, apply again).
        self._offer_a = 0.0
        self._held_off = False
        self._locked = False
        self._applied: tuple[str, int] | None = None
        self._offered_a = 0.0
        # What the controller is and says.
        self._features: Features | None = None  # None: probe at the next resync
        self._resync_needed = True
        self._state = ReportedState(connector, self._send)
        self._health = Health(connector, port, self._send)

    # --- what the controller reports ----------------------------------------------------

    @property
    def pilot(self) -> PilotState | None:
        return self._state.pilot

    @property
    def evse_state(self) -> int | None:
        return self._state.evse_state

    @property
    def offered_a(self) -> float:
        """The pilot current the controller confirmed (after its own clamping); 0 held off."""
        return self._offered_a

    @property
    def heartbeat(self) -> bool | None:
        """Whether the firmware supervises our heartbeat (None: not known yet)."""
        return None if self._features is None else self._features.heartbeat

    @property
    def has_lock(self) -> bool:
        """Whether there is a cable lock to move; True while the controller is not yet known
        (set_lock() then fails instead of claiming there is none)."""
        return self._features is None or self._features.lock

    @property
    def bad_frames(self) -> int:
        return self._link.bad_frames

    @property
    def stale_replies(self) -> int:
        return self._link.stale_replies

    # --- EvseController -----------------------------------------------------------------

    async def start(self, emit: EventSink) -> None:
        """Open the port, hold the EV off, probe the features, read and report the pilot.

        A missing, silent or refusing controller does not fail start(): InternalError is
        raised through `emit` and the controller is retried in the background."""
        self._emit = emit
        await self._rounds.start()

    async def stop(self) -> None:
        """Stop polling, join the reader thread, close the port. Sends nothing: offer 0
        first to leave the controller asleep."""
        await self._rounds.stop(self.timeout_s + 1.0)
        await self._link.close_now()  # a request still running fails with DeviceError
        self._emit = None

    async def offer_current(self, amps: float) -> None:
        """≥ 6 A: `$SC amps V` then `$FE`; below 6 A (0 included): the EV held off."""
        if amps < 0:
            raise ValueError(f"connector {self.connector}: cannot offer {amps} A")
        if amps > self.max_current_a:
            log.warning(
                "connector %d: offer %.1f A above max_current_a, offering %.1f A",
                self.connector, amps, self.max_current_a,
            )  # fmt: skip
            amps = self.max_current_a
        self._offer_a = float(amps)
        self._held_off = False
        await self._apply_offer()

    async def set_contactor(self, closed: bool) -> None:
        """RAPI has no relay command: the controller closes its relay itself in state C
        while enabled. Opening while the EV draws holds the EV off; closing, or a new
        offer, enables it again."""
        if closed:
            if self._held_off:
                self._held_off = False
                await self._apply_offer()
        elif self._state.pilot in (PilotState.C, PilotState.D) and self._applied != ("sleep", 0):
            self._held_off = True
            await self._apply_offer()

    async def set_lock(self, locked: bool) -> bool:
        """Move the Mennekes cable lock (`$S5 1` / `$S5 0`, manual mode); True when the
        controller took the command (RAPI reports no lock position sensor).

        False when there is no lock to move (`has_lock` says so) or the controller is not
        reachable. (`$S4` is not a cable lock: it is the authorization lock.)"""
        self._locked = locked
        if not self.has_lock:
            return False
        if self._features is None:
            log.warning("connector %d: lock: the EVSE controller is not known yet", self.connector)
            return False
        reply = await self.request(f"S5 {1 if locked else 0}")
        if not reply.ok:
            log.warning("connector %d: the controller refused to move the lock", self.connector)
        return reply.ok

    # --- requests -----------------------------------------------------------------------

    async def request(self, command: str) -> RapiFrame:
        """Send one command and return the controller's reply (`$OK` or `$NK`).

        Raises DeviceError when the port is closed, fails, or no reply arrives in time."""
        try:
            reply = await self._link.request(command)
        except NoAnswer:
            self._note_failure()
            raise
        self._note_answer()
        return reply

    async def _expect_ok(self, command: str) -> RapiFrame:
        reply = await self.request(command)
        if not reply.ok:
            raise DeviceError(f"EVSE controller refused {command!r}: {reply}")
        return reply

    # --- applying what the daemon wants ---------------------------------------------------

    async def _apply_offer(self) -> None:
        async with self._apply_lock:
            amps = math.floor(self._offer_a)
            enable = amps >= MIN_OFFER_A and not self._held_off
            target = ("enable", amps) if enable else ("sleep", 0)
            if target == self._applied:
                return
            self._applied = None  # half-applied counts as unknown
            if target[0] == "sleep":
                await self._hold_off()
                return
            reply = await self.request(f"SC {amps} V")
            granted = int_arg(reply, 0, 10)
            if granted is None:
                raise DeviceError(f"EVSE controller refused an offer of {amps} A: {reply}")
            if not reply.ok:
                log.warning(
                    "connector %d: the controller clamped the offer of %d A to %d A",
                    self.connector, amps, granted,
                )  # fmt: skip
            await self._expect_ok("FE")
            self._offered_a = float(granted)
            self._applied = target

    async def _hold_off(self) -> None:
        """The hold-off and its check; faults the connector when the controller refuses."""
        try:
            await hold_off(self, self._read_state)
        except HoldOffRefused as exc:
            self._health.raise_fault(HOLD_OFF, str(exc))
            raise
        self._offered_a = 0.0
        self._applied = ("sleep", 0)
        self._health.held_off()

    async def _read_state(self) -> int:
        """GS (and G0 where GS has no pilot field); the evsestate."""
        evse, pilot = await read_state(self, self._features, self._name)
        self._apply_state(evse, pilot)
        return evse

    async def _resync(self) -> None:
        """Hold the EV off, (re)learn or restore the features, then apply what we want."""
        # Cleared first: a reboot announced meanwhile asks for one more round.
        self._resync_needed = False
        try:
            async with self._apply_lock:
                self._applied = None
                await self._hold_off()
            options = {"poll_interval_s": self.poll_interval_s, "locked": self._locked}
            if self._features is None:
                self._features = await probe_features(self, name=self._name, **options)
            else:
                await restore_features(self, self._features, name=self._name, **options)
            await self._apply_offer()
        except DeviceError:
            self._resync_needed = True
            raise

    async def _pulse_heartbeat(self) -> None:
        if self._features is None or not self._features.heartbeat:
            return
        if (await self.request("SY")).ok:
            return
        # NK: the firmware missed a pulse and fell back to its minimum current.
        log.warning("connector %d: the controller missed a heartbeat; restoring", self.connector)
        await self.request(f"SY {HEARTBEAT_ACK_COOKIE}")
        self._applied = None
        await self._apply_offer()

    # --- what the controller says -------------------------------------------------------

    def _on_notification(self, f: RapiFrame) -> None:
        try:
            if f.command == "AT":
                self._apply_state(int(f.args[0], 16), int(f.args[1], 16))
            elif f.command == "ST":  # before RAPI 4: the evsestate only
                self._apply_state(int(f.args[0], 16), None)
            elif f.command == "AB":
                log.warning(
                    "connector %d: the EVSE controller restarted (post code %s, firmware %s)",
                    self.connector, f.args[0], " ".join(f.args[1:]),
                )  # fmt: skip
                self._restarted()
            else:
                log.debug("connector %d: RAPI notification ignored: %s", self.connector, f)
        except (IndexError, ValueError):
            self._link.bad_frame(repr(f).encode(), "malformed notification")

    def _restarted(self) -> None:
        """The controller came back ENABLED, maybe with other firmware: start over."""
        self._applied = None
        self._health.safe = False
        self._features = None
        self._link.forget_firmware()
        self._resync_needed = True
        self._rounds.wake()

    def _apply_state(self, evse: int, pilot_code: int | None) -> None:
        if self._applied == ("sleep", 0) and evse in PILOT_BY_CODE:
            # Enabled behind our back (front button, a missed reboot): hold off again.
            log.warning("connector %d: the controller is enabled; holding off", self.connector)
            self._applied = None
            self._resync_needed = True
            self._rounds.wake()
        self._state.apply(evse, pilot_code)

    def _send(self, event: HalEvent) -> None:
        if self._emit is not None:
            self._emit(event)

    # --- link health --------------------------------------------------------------------

    def _note_answer(self) -> None:
        if self._health.answered():
            # It may have lost our settings (or rebooted) meanwhile.
            self._resync_needed = True
            self._rounds.wake()

    def _note_failure(self, reason: str = "", *, at_once: bool = False) -> None:
        self._applied = None
        self._health.unanswered(reason, at_once=at_once)
        self._rounds.wake()  # look again soon (not before the retry pause)

    def _on_port_failed(self, exc: BaseException) -> None:
        self._note_failure(f"{self.port}: {exc}", at_once=True)

    # --- a round -----------------------------------------------------------------------

    async def _round(self) -> bool:
        """One visit: (re)open the port if needed, resync or poll. False when it failed."""
        try:
            # A silent controller may sit behind a stuck adapter: reopen that too.
            if not self._link.is_open or self._health.link_down:
                await self._link.close()
                try:
                    await self._link.open()
                except PortFailed as exc:  # says why (path, permission), not "not answering"
                    self._applied = None
                    self._health.raise_fault(LINK, str(exc))
                    return False
                self._health.safe = False
                self._features = None
                self._resync_needed = True
            if self._resync_needed:
                await self._resync()
            else:
                await self._read_state()
                await self._pulse_heartbeat()
            return True
        except DeviceError as exc:
            log.debug("connector %d: %s", self.connector, exc)
            return False
