"""The station core's vocabulary: transactions, authorization, settings and decisions.

Nothing here knows an OCPP version; adapters translate these to wire messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from hal.interfaces import MeterReading

from .tx_policy import TxPoint, TxPolicy


class AuthStatus(StrEnum):
    Accepted = "Accepted"
    Blocked = "Blocked"
    Expired = "Expired"
    Invalid = "Invalid"
    ConcurrentTx = "ConcurrentTx"


@dataclass(frozen=True)
class AuthInfo:
    """What the CSMS said of an id tag (cached for offline and pre-authorization)."""

    status: AuthStatus
    expires_at: float | None = None  # epoch seconds
    parent_id: str | None = None

    def valid_at(self, now: float) -> bool:
        return self.status is AuthStatus.Accepted and (
            self.expires_at is None or now < self.expires_at
        )


@dataclass
class Authorization:
    """An accepted id tag waiting for the EV's cable (or for a free connector)."""

    id_tag: str
    at: float
    remote_start_id: int | None = None
    parent_id: str | None = None  # the tag's group, when the CSMS or the cache said
    reservation_id: int | None = None  # the reservation this tag uses, if any


class StopReason(StrEnum):
    """Why a transaction ended (the OCPP 1.6 Reason names, plus Fault)."""

    EmergencyStop = "EmergencyStop"
    EVDisconnected = "EVDisconnected"
    HardReset = "HardReset"
    Local = "Local"
    Other = "Other"
    PowerLoss = "PowerLoss"
    Reboot = "Reboot"
    Remote = "Remote"
    SoftReset = "SoftReset"
    UnlockCommand = "UnlockCommand"
    DeAuthorized = "DeAuthorized"
    Fault = "Fault"  # a hardware fault cut the power
    # stop points of a transaction policy (tx_points.py): OCPP 2.0.1 names
    EVDeparted = "EVDeparted"  # the parking bay was left
    StoppedByEV = "StoppedByEV"  # the energy transfer stopped
    Timeout = "Timeout"  # authorized, but no EV within the connection timeout
    MasterPass = "MasterPass"  # a card of the master pass group stopped every transaction


@dataclass
class Transaction:
    """A charging session. `id` is the station's own id (unique, persisted)."""

    id: str
    connector: int
    id_tag: str
    meter_start_wh: int
    started_at: float
    last_meter_wh: int  # the latest reading reported for this transaction
    remote_start_id: int | None = None
    # The parent id tag (2.0.1: groupIdToken) of the tag that started it, once known: any
    # other tag of the same group may stop the transaction.
    parent_id: str | None = None
    suspended_by_station: bool = False  # the CSMS refused the id tag: no energy offered
    energy_limit_wh: int | None = None  # MaxEnergyOnInvalidId: suspend when reached
    last_sample_at: float = 0.0
    reservation_id: int | None = None  # the reservation it used (reported in its start)
    # False while it runs without a driver's authorization: started before one (at the EV
    # or the bay), or deauthorized when that does not end it (tx_points.py). No energy.
    authorized: bool = True
    authorized_at: float = field(default=0.0, compare=False)  # for EVConnectionTimeOut
    deauthorized: bool = False  # the driver ended the authorization, not the transaction


@dataclass
class CoreSettings:
    """The rules the core follows; adapters keep them in step with OCPP configuration."""

    connection_timeout_s: float = 60
    stop_on_ev_disconnect: bool = True
    # the EV leaving withdraws the authorization (2.0.1 StopTxOnEVSideDisconnect): the
    # transaction ends if the policy ends it at deauthorization (tx_points.py)
    deauthorize_on_ev_disconnect: bool = False
    unlock_on_ev_disconnect: bool = True
    local_pre_authorize: bool = False
    local_authorize_offline: bool = True
    allow_offline_unknown_id: bool = False
    authorize_remote_start: bool = True
    stop_on_invalid_id: bool = True
    max_energy_on_invalid_id_wh: int = 0
    auth_cache_enabled: bool = True
    local_auth_list_enabled: bool = True
    # cards of this group (parent id tag) stop every transaction and start none (2.0.1 C16)
    master_pass_group: str | None = None
    sample_interval_s: float = 60
    aligned_interval_s: float = 0
    tx_policy: TxPolicy = TxPolicy()  # when transactions start and end
    # free charging: the EV's arrival authorizes this id tag (1.6 `auth.free`; 2.0.1
    # AuthCtrlr.Enabled false, "" for an idToken of type NoAuthorization); None: off
    free_id_tag: str | None = None
    reservations_enabled: bool = True  # 2.0.1 ReservationCtrlr.Enabled
    # a reservation for no connector in particular (1.6 ReserveConnectorZeroSupported,
    # 2.0.1 ReservationCtrlr.NonEvseSpecific)
    reserve_any_connector: bool = True


@dataclass(frozen=True)
class Reservation:
    """A connector kept for one id tag (or its group) until `expires_at`.

    `connector` None: any connector among `fits` (None: any of the station's) will do, and
    the station keeps enough of those free for all such reservations."""

    id: int
    id_tag: str
    expires_at: float  # epoch seconds
    connector: int | None = None
    parent_id: str | None = None  # 1.6 parentIdTag, 2.0.1 groupIdToken
    fits: frozenset[int] | None = None  # e.g. the connectors of a 2.0.1 connectorType


class ReserveStatus(StrEnum):
    """The answer to a reservation request (the same names in 1.6 and 2.0.1)."""

    Accepted = "Accepted"
    Faulted = "Faulted"
    Occupied = "Occupied"
    Rejected = "Rejected"
    Unavailable = "Unavailable"


class ReservationEnd(StrEnum):
    Used = "Used"  # a transaction started with it
    Cancelled = "Cancelled"  # by the CSMS
    Expired = "Expired"
    Removed = "Removed"  # its connector became faulted or unavailable


# --- decisions: what the core wants done -------------------------------------------------


@dataclass(frozen=True)
class OfferCurrent:
    connector: int
    amps: float  # 0: hold the EV off


@dataclass(frozen=True)
class SwitchContactor:
    connector: int
    closed: bool


@dataclass(frozen=True)
class SetLock:
    connector: int
    locked: bool


@dataclass(frozen=True)
class RequestAuthorization:
    """Ask the CSMS about an id tag; answer with Station.authorization_answered/failed."""

    id_tag: str


class RefusedBy(StrEnum):
    """Who or which rule refused an id tag (adapters name the rule's key of their version)."""

    CSMS = "csms"  # its answer (or, 2.0.1, the local list or cache it lets decide)
    OFFLINE_LIST = "offline list"  # offline: the local list's answer (LocalAuthorizeOffline)
    OFFLINE_CACHE = "offline cache"  # offline: the cached answer (LocalAuthorizeOffline)
    OFFLINE_UNKNOWN = "offline unknown"  # offline, not known: AllowOfflineTxForUnknownId off
    NO_CONNECTOR = "no connector"  # accepted, but its connector cannot start a session
    MASTER_PASS = "master pass"  # a master pass stops transactions and starts none
    RESERVED = "reserved"  # accepted, but the connector is reserved for another tag


@dataclass(frozen=True)
class AuthorizationRejected:
    """An id tag was refused (shown to the user; nothing else happens)."""

    id_tag: str
    status: str
    by: RefusedBy = RefusedBy.CSMS


@dataclass(frozen=True)
class CacheAuthorization:
    """Persist the cache: remember `info` for `id_tag`; info None forgets that tag, and
    id_tag None too forgets them all."""

    id_tag: str | None
    info: AuthInfo | None


@dataclass(frozen=True)
class TransactionStarted:
    transaction: Transaction
    reading: MeterReading | None
    at: float
    cause: TxPoint = TxPoint.AUTHORIZED  # the fact that came last and started it


@dataclass(frozen=True)
class TransactionAuthorized:
    """A transaction that ran without authorization got one (its id tag is now set)."""

    transaction: Transaction
    at: float


@dataclass(frozen=True)
class TransactionDeauthorized:
    """The driver withdrew the authorization; the transaction goes on without energy until
    another of its stop points."""

    transaction: Transaction
    reason: StopReason  # what would have been the stop reason: Local, Remote, DeAuthorized
    at: float
    id_tag: str | None = None


@dataclass(frozen=True)
class TransactionEnded:
    transaction: Transaction
    reason: StopReason
    meter_stop_wh: int
    reading: MeterReading | None
    at: float
    id_tag: str | None = None  # the tag that stopped it, when one did
    fault: str | None = None  # the fault code, for reason Fault


@dataclass(frozen=True)
class MeterSampled:
    connector: int
    transaction: Transaction | None
    reading: MeterReading
    context: str  # "Sample.Periodic" or "Sample.Clock"
    at: float


@dataclass(frozen=True)
class StatusChanged:
    connector: int
    old: str
    new: str
    error_code: str
    at: float


@dataclass(frozen=True)
class AvailabilityChanged:
    """Persist: the connector's operative flag (survives reboots, per OCPP)."""

    connector: int
    operative: bool


@dataclass(frozen=True)
class ReservationMade:
    """Persist: a new reservation (or one that replaces the one of the same id)."""

    reservation: Reservation


@dataclass(frozen=True)
class ReservationEnded:
    """Persist: the reservation is gone; Expired and Removed are reported (2.0.1)."""

    reservation: Reservation
    why: ReservationEnd


Decision = (
    OfferCurrent
    | SwitchContactor
    | SetLock
    | RequestAuthorization
    | AuthorizationRejected
    | CacheAuthorization
    | TransactionStarted
    | TransactionEnded
    | TransactionAuthorized
    | TransactionDeauthorized
    | MeterSampled
    | StatusChanged
    | AvailabilityChanged
    | ReservationMade
    | ReservationEnded
)
