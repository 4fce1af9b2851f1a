"""The connector state machine: every status and every legal move, in one table.

A connector's status follows from a few facts (pilot state, faults, availability, the
transaction, a pending authorization). `Connector.settle()` works out the status those
facts call for and fires the one transition of the table that leads there; a move the
table does not list is a bug and raises `transitions.MachineError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from transitions import Machine, MachineError

from hal.interfaces import PilotState

from .model import Authorization, Transaction


class Status(StrEnum):
    """Connector statuses (the OCPP 1.6 ChargePointStatus names)."""

    Available = "Available"
    Preparing = "Preparing"
    Charging = "Charging"
    SuspendedEV = "SuspendedEV"
    SuspendedEVSE = "SuspendedEVSE"
    Finishing = "Finishing"
    Reserved = "Reserved"
    Unavailable = "Unavailable"
    Faulted = "Faulted"


S = Status
IN_SESSION = [S.Charging, S.SuspendedEV, S.SuspendedEVSE]
ANY = [s for s in Status]

# trigger              from                                         to
TRANSITIONS: list[tuple[str, list[Status] | Status, Status]] = [
    ("ev_plugged_in",     [S.Available, S.Reserved],                   S.Preparing),
    ("authorized",        [S.Available, S.Reserved],                   S.Preparing),
    ("preparation_ended", S.Preparing,                                 S.Available),
    ("reservation_made",  S.Available,                                 S.Reserved),
    ("reservation_ended", S.Reserved,                                  S.Available),
    ("preparation_ended_reserved", S.Preparing,                        S.Reserved),
    ("energy_flows",      [S.Preparing, S.SuspendedEV, S.SuspendedEVSE], S.Charging),
    ("ev_not_drawing",    [S.Preparing, S.Charging, S.SuspendedEVSE],  S.SuspendedEV),
    ("station_suspends",  [S.Preparing, S.Charging, S.SuspendedEV],    S.SuspendedEVSE),
    ("transaction_ended", IN_SESSION,                                  S.Finishing),
    # a transaction that never got energy (started at the EV or the bay, tx_points.py)
    ("ended_unpowered",   S.Preparing,                                 S.Finishing),
    ("ended_unplugged",   IN_SESSION,                                  S.Available),
    ("ended_taken_out",   IN_SESSION,                                  S.Unavailable),
    ("ev_left",           S.Finishing,                                 S.Available),
    ("new_session",       S.Finishing,                                 S.Preparing),
    ("taken_out",         [S.Available, S.Preparing, S.Finishing, S.Reserved], S.Unavailable),
    ("put_back",          S.Unavailable,                               S.Available),
    ("put_back_plugged",  S.Unavailable,                               S.Preparing),
    ("fault",             [s for s in ANY if s is not S.Faulted],      S.Faulted),
    ("recovered",         S.Faulted,                                   S.Available),
    ("recovered_plugged", S.Faulted,                                   S.Preparing),
    ("recovered_session", S.Faulted,                                   S.Finishing),
    ("recovered_unavailable", S.Faulted,                               S.Unavailable),
    ("recovered_charging", S.Faulted,                                  S.Charging),
    ("recovered_suspended", S.Faulted,                                 S.SuspendedEV),
    ("recovered_suspended_evse", S.Faulted,                            S.SuspendedEVSE),
]  # fmt: skip

_TRIGGER_BY_MOVE: dict[tuple[Status, Status], str] = {}
for _trigger, _sources, _dest in TRANSITIONS:
    for _source in _sources if isinstance(_sources, list) else [_sources]:
        _TRIGGER_BY_MOVE.setdefault((_source, _dest), _trigger)

PLUGGED = (PilotState.B, PilotState.C, PilotState.D)
DRAWING = (PilotState.C, PilotState.D)
MIN_OFFER_A = 6.0  # IEC 61851: below 6 A no PWM offer is possible


@dataclass
class Connector:
    """One connector: its facts, and the status machine those facts drive."""

    id: int
    max_current_a: float
    phases: int
    pilot: PilotState = PilotState.A
    faults: dict[str, str] = field(default_factory=dict)  # fault code -> info
    # Errors that leave the connector usable (a dead card reader: remote starts still
    # work): reported as the error code with the status unchanged, as OCPP 1.6 allows.
    warnings: dict[str, str] = field(default_factory=dict)  # error code -> info
    operative: bool = True
    scheduled_operative: bool | None = None  # availability change waiting for the session end
    authorization: Authorization | None = None  # accepted id tag waiting for the cable
    reserved: bool = False  # kept for a reservation's tag (reservations.py decides)
    transaction: Transaction | None = None
    bay_occupied: bool = False  # the parking bay sensor, where there is one
    finishing: bool = False  # a transaction ended and the EV is still plugged
    offered_a: float = 0.0
    # the smart-charging limit (None: none); below MIN_OFFER_A the station holds the EV off
    limit_a: float | None = None
    limit_source: str = "connector"  # which limit binds: csms, site, external, connector
    contactor_closed: bool = False
    locked: bool = False
    state: str = S.Available  # kept by the machine

    def __post_init__(self) -> None:
        self.machine = Machine(
            model=self,
            states=list(Status),
            transitions=[list(t) for t in TRANSITIONS],
            initial=S.Available,
            auto_transitions=False,
        )

    @property
    def status(self) -> Status:
        return Status(self.state)

    @property
    def plugged(self) -> bool:
        return self.pilot in PLUGGED

    @property
    def held_off(self) -> bool:
        """A limit below the smallest possible offer: no PWM, the session paused."""
        return self.limit_a is not None and self.limit_a < MIN_OFFER_A

    @property
    def error_code(self) -> str:
        """The fault to report: the first one raised, else the first warning, or NoError."""
        code = next(iter(self.faults), None) or next(iter(self.warnings), "NoError")
        return code.removeprefix("pilot:")

    def wanted_status(self) -> Status:
        """The status the facts call for, most important fact first."""
        if self.faults:
            return S.Faulted
        tx = self.transaction
        if tx is not None:
            if not tx.authorized:  # never authorized yet: preparing; deauthorized: held off
                return S.SuspendedEVSE if tx.deauthorized else S.Preparing
            if tx.suspended_by_station or self.held_off:
                return S.SuspendedEVSE
            return S.Charging if self.pilot in DRAWING else S.SuspendedEV
        if not self.operative:
            return S.Unavailable
        if self.plugged:
            return S.Finishing if self.finishing else S.Preparing
        if self.authorization is not None:
            return S.Preparing
        return S.Reserved if self.reserved else S.Available

    def settle(self) -> list[tuple[Status, Status]]:
        """Move to the wanted status along the table; the moves made (none if unchanged).

        When two facts change at once the wanted status may be two moves away (a new tag
        in Finishing: Finishing → Preparing → Charging); the shortest path is taken."""
        path = _path(self.status, self.wanted_status())
        for old, new in path:
            getattr(self, _TRIGGER_BY_MOVE[(old, new)])()
        return path


def _path(start: Status, goal: Status) -> list[tuple[Status, Status]]:
    """The shortest list of table moves from start to goal (breadth-first)."""
    if start is goal:
        return []
    frontier: list[list[tuple[Status, Status]]] = [[]]
    seen = {start}
    while frontier:
        next_frontier = []
        for path in frontier:
            here = path[-1][1] if path else start
            for source, dest in _TRIGGER_BY_MOVE:
                if source is here and dest not in seen:
                    if dest is goal:
                        return [*path, (source, dest)]
                    if dest is Status.Faulted:
                        continue  # never pass through Faulted on the way elsewhere
                    seen.add(dest)
                    next_frontier.append([*path, (source, dest)])
        frontier = next_frontier
    raise MachineError(f"connector status cannot move from {start} to {goal}: not in TRANSITIONS")
