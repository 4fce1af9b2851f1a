"""Simulated EVSE controller of one connector, with the EV plugged into it."""

from __future__ import annotations

from collections.abc import Callable

from hal.interfaces import (
    BayChanged,
    EventSink,
    FaultCleared,
    FaultCode,
    FaultRaised,
    HalEvent,
    PilotChanged,
    PilotState,
    TamperDetected,
)

# IEC 61851-1: a PWM offer below 6 A is no offer; the EV must not draw.
MIN_OFFER_A = 6.0
EV_BATTERY_WH = 50_000.0  # the simulated EV's usable battery
EV_ARRIVAL_SOC_PCT = 20.0  # its state of charge when it is plugged in


class SimController:
    """EvseController of one connector that owns a simulated EV.

    EV model: `plug()` → pilot B. While plugged, not paused and offered ≥ 6 A the EV
    asks for energy at once (pilot C); less than 6 A, `ev_pause()` or an unplug take it
    back to B (or A). Current flows only in C with the contactor closed. Each plug-in is
    an EV arriving at `ev_arrival_soc_pct`; its state of charge rises with the energy its
    meter counts (`ev_charged`), up to 100 % (it does not stop drawing when full).

    Every state change emits exactly one event through the sink given to `start()`;
    changes that change nothing emit nothing. Before `start()` (and after `stop()`)
    the state is tracked but events are dropped: `start()` reports the present state.
    """

    def __init__(
        self,
        connector: int,
        *,
        ev_max_current_a: float = 32.0,
        ev_battery_wh: float = EV_BATTERY_WH,
        ev_arrival_soc_pct: float = EV_ARRIVAL_SOC_PCT,
        lock: bool = True,
    ) -> None:
        self.connector = connector
        self.has_lock = lock  # False: a socket without a cable lock (set_lock moves nothing)
        self.ev_max_current_a = ev_max_current_a
        self.ev_battery_wh = ev_battery_wh
        self.ev_arrival_soc_pct = ev_arrival_soc_pct
        self._soc_pct = ev_arrival_soc_pct
        self._emit: EventSink | None = None
        self._plugged = False
        self._paused = False
        self._offered_a = 0.0
        self._contactor_closed = False
        self._locked = False
        self._faults: dict[FaultCode, str] = {}
        self._pilot = PilotState.A
        self._bay_occupied = False  # the simulated parking bay sensor
        # Called just before anything that may change the flowing current, so a meter
        # can integrate the interval that ends now at the current that flowed in it.
        self._flow_listeners: list[Callable[[], None]] = []

    # --- what the simulated device reports ------------------------------------------------

    @property
    def pilot(self) -> PilotState:
        return self._pilot

    @property
    def plugged(self) -> bool:
        return self._plugged

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def offered_a(self) -> float:
        return self._offered_a

    @property
    def contactor_closed(self) -> bool:
        return self._contactor_closed

    @property
    def locked(self) -> bool:
        return self._locked

    @property
    def faults(self) -> dict[FaultCode, str]:
        """Injected faults still present, with their info text."""
        return dict(self._faults)

    @property
    def faulted(self) -> bool:
        return bool(self._faults)

    @property
    def current_a(self) -> float:
        """Current per phase the EV actually draws."""
        if self._pilot is PilotState.C and self._contactor_closed:
            return min(self._offered_a, self.ev_max_current_a)
        return 0.0

    @property
    def soc_pct(self) -> float | None:
        """The plugged-in EV's state of charge; None without an EV."""
        return self._soc_pct if self._plugged else None

    def ev_charged(self, energy_wh: float) -> None:
        """`energy_wh` flowed into the EV (its meter counted it)."""
        if self._plugged and energy_wh > 0:
            self._soc_pct = min(100.0, self._soc_pct + 100.0 * energy_wh / self.ev_battery_wh)

    def add_flow_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener()` just before the flowing current may change."""
        self._flow_listeners.append(listener)

    # --- EvseController ------------------------------------------------------------------

    def bay(self, occupied: bool) -> None:
        """A vehicle drives into the connector's parking bay, or leaves it (the optional bay
        sensor; the EV itself is `plug()`)."""
        if occupied != self._bay_occupied:
            self._bay_occupied = occupied
            self._send(BayChanged(self.connector, occupied))

    async def start(self, emit: EventSink) -> None:
        self._emit = emit
        emit(PilotChanged(self.connector, self._pilot))
        if self._bay_occupied:
            emit(BayChanged(self.connector, True))
        # A fault injected before start is still there: report it like a driver would.
        for code, info in self._faults.items():
            emit(FaultRaised(self.connector, code, info))

    async def stop(self) -> None:
        self._emit = None

    async def offer_current(self, amps: float) -> None:
        if amps < 0:
            raise ValueError(f"connector {self.connector}: cannot offer {amps} A")
        self._before_flow_change()
        self._offered_a = float(amps)
        self._update_pilot()

    async def set_contactor(self, closed: bool) -> None:
        self._before_flow_change()
        self._contactor_closed = closed

    async def set_lock(self, locked: bool) -> bool:
        if not self.has_lock:
            return False
        self._locked = locked
        return True

    # --- the EV and the environment (driven by tests and `chargerctl sim`) ------------------

    def plug(self) -> None:
        self._before_flow_change()
        if not self._plugged:
            self._soc_pct = self.ev_arrival_soc_pct
        self._plugged = True
        self._update_pilot()

    def unplug(self) -> None:
        self._before_flow_change()
        self._plugged = False
        # The next EV starts unpaused.
        self._paused = False
        self._update_pilot()

    def set_ev_max(self, amps: float) -> None:
        """The most the EV draws from now on (a car that takes only 10 A, a full battery)."""
        if amps < 0:
            raise ValueError(f"connector {self.connector}: the EV cannot draw {amps} A")
        self._before_flow_change()
        self.ev_max_current_a = float(amps)

    def ev_pause(self) -> None:
        self._before_flow_change()
        self._paused = True
        self._update_pilot()

    def ev_resume(self) -> None:
        self._before_flow_change()
        self._paused = False
        self._update_pilot()

    def tamper(self) -> None:
        """The simulated enclosure's tamper switch opens."""
        self._send(TamperDetected(self.connector, "the simulated enclosure"))

    def fault(self, code: FaultCode, info: str = "") -> None:
        """Inject a hardware fault; a fault already present is not reported again."""
        code = FaultCode(code)
        if code in self._faults:
            return
        self._faults[code] = info
        self._send(FaultRaised(self.connector, code, info))

    def clear(self) -> None:
        """Every injected fault goes away (one FaultCleared, if there was any)."""
        if not self._faults:
            return
        self._faults.clear()
        self._send(FaultCleared(self.connector))

    # --- internals -----------------------------------------------------------------------

    def _wanted_pilot(self) -> PilotState:
        if not self._plugged:
            return PilotState.A
        if self._paused or self._offered_a < MIN_OFFER_A:
            return PilotState.B
        return PilotState.C

    def _update_pilot(self) -> None:
        pilot = self._wanted_pilot()
        if pilot is self._pilot:
            return
        self._pilot = pilot
        self._send(PilotChanged(self.connector, pilot))

    def _before_flow_change(self) -> None:
        for listener in self._flow_listeners:
            listener()

    def _send(self, event: HalEvent) -> None:
        if self._emit is not None:
            self._emit(event)
