"""The station core's vocabulary: transactions, authorization, settings and decisions.

Nothing here knows an OCPP version; adapters translate these to wire messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hal.interfaces import MeterReading


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


@dataclass
class CoreSettings:
    """The rules the core follows; adapters keep them in step with OCPP configuration."""

    connection_timeout_s: float = 60
    stop_on_ev_disconnect: bool = True
    unlock_on_ev_disconnect: bool = True
    local_pre_authorize: bool = False
    local_authorize_offline: bool = True
    allow_offline_unknown_id: bool = False
    authorize_remote_start: bool = True
    stop_on_invalid_id: bool = True
    max_energy_on_invalid_id_wh: int = 0
    auth_cache_enabled: bool = True
    sample_interval_s: float = 60
    aligned_interval_s: float = 0


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
    OFFLINE_CACHE = "offline cache"  # offline: the cached answer (LocalAuthorizeOffline)
    OFFLINE_UNKNOWN = "offline unknown"  # offline, not known: AllowOfflineTxForUnknownId off
    NO_CONNECTOR = "no connector"  # accepted, but its connector cannot start a session


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


Decision = (
    OfferCurrent
    | SwitchContactor
    | SetLock
    | RequestAuthorization
    | AuthorizationRejected
    | CacheAuthorization
    | TransactionStarted
    | TransactionEnded
    | MeterSampled
    | StatusChanged
    | AvailabilityChanged
)
