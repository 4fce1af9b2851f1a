"""The station's OCPP 2.0.1 components and variables: one table, read top to bottom.

Which variables the CSMS may write, what they default to, and what is read-only and why.
Where the station cannot honour a value (the core has no such behaviour) the variable's
`check` rejects it, so SetVariables answers Rejected rather than pretending; a variable the
station cannot honour at all is reported ReadOnly with the value it really has (signed
meter values: false; a master pass group: none).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..config import Config
from ..measurands import MEASURANDS  # shared with 1.6: what the hardware can give
from ..updates.version import running_version
from .components import (
    MAX_SET,
    READ_ONLY,
    READ_WRITE,
    WRITE_ONLY,
    Attribute,
    Component,
    Value,
    Variable,
)
from .components import dynamic as _dyn
from .components import read_only as _ro
from .components import read_write as _rw
from .device_model import resolve_initial
from .values import parse

AVAILABILITY = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")
# TxStartPoint / TxStopPoint members (the core's facts, core/tx_policy.py). DataSigned is
# not offered: the meters here give no signed readings (SignReadings is false), and as a
# stop point the spec gives it no meaning.
TX_POINTS = (
    "ParkingBayOccupancy",
    "EVConnected",
    "Authorized",
    "PowerPathClosed",
    "EnergyTransfer",
)
NOMINAL_VOLTAGE_V = 230.0
ITEMS_PER_MESSAGE = {"GetReport": 20, "GetVariables": 50, "SetVariables": 50}
BYTES_PER_MESSAGE = 65000
LOCAL_LIST_ITEMS_PER_MESSAGE = 100
LOCAL_LIST_BYTES_PER_MESSAGE = 65000
CERTIFICATE_ENTRIES = 20  # installed root certificates at most (CertificateStoreMaxLength)
PERIODS_PER_SCHEDULE = 24  # SmartChargingCtrlr maxima, as the engine's defaults
PROFILE_STACK_LEVEL = 8


def _tx_points(value: Value) -> str | None:
    # every combination of TX_POINTS works (core/tx_points.py); none would mean a
    # transaction never starts (or only ends when forced)
    return "list at least one point" if not str(value) else None


def _slots(value: Value) -> str | None:
    items = str(value).split(",")
    return None if all(i.strip().isdigit() for i in items) else "configuration slot numbers"


def _credentials_only(value: Value) -> str | None:
    # SetVariables from the CSMS reaches it through network.py (the credentials); any other
    # way to write it would store a secret in the device model
    return "set by the CSMS with SetVariables only"


def catalogue(config: Config) -> list[Variable]:
    st, csms = config.station, config.csms
    out: list[Variable] = []
    cs = Component("ChargingStation")
    max_phases = max((c.phases for c in config.connectors), default=3)
    out += [
        _dyn(cs, "AvailabilityState", "OptionList", values_list=AVAILABILITY, summary=True),
        _dyn(cs, "Available", "boolean", summary=True),
        _dyn(cs, "Problem", "boolean", summary=True),
        _ro(cs, "Model", "string", st.model),
        _ro(cs, "VendorName", "string", st.vendor),
        _ro(cs, "FirmwareVersion", "string", running_version(config)),  # an update's wins
        # new sessions while a firmware installation waits for the running ones (updates/)
        _rw(cs, "AllowNewSessionsPendingFirmwareUpdate", "boolean", False),
        _ro(cs, "SupplyPhases", "integer", max_phases),
    ]
    if st.serial:
        out.append(_ro(cs, "SerialNumber", "string", st.serial))
    for c in config.connectors:
        evse = Component("EVSE", evse=c.id)
        max_power = round(c.max_current_a * c.phases * NOMINAL_VOLTAGE_V, 1)
        power = (
            Attribute(mutability=READ_ONLY),
            Attribute(MAX_SET, READ_ONLY, default=max_power, constant=True),
        )
        out += [
            _dyn(evse, "AvailabilityState", "OptionList", values_list=AVAILABILITY, summary=True),
            _dyn(evse, "Available", "boolean", summary=True),
            Variable(evse, "Power", "decimal", power, unit="W", max_limit=max_power,
                     monitorable=True),  # fmt: skip
            _ro(evse, "SupplyPhases", "integer", c.phases),
        ]
        conn = Component("Connector", evse=c.id, connector=1)
        out += [
            _dyn(conn, "AvailabilityState", "OptionList", values_list=AVAILABILITY, summary=True),
            _dyn(conn, "Available", "boolean", summary=True),
            _dyn(conn, "Problem", "boolean", summary=True),
            _ro(conn, "ConnectorType", "string", "cCCS2" if c.power is not None else "cType2"),
            _ro(conn, "SupplyPhases", "integer", c.phases),
        ]

    comm = Component("OCPPCommCtrlr")
    repeat = max(0, math.ceil(math.log2(max(csms.reconnect_max_s / csms.reconnect_min_s, 1))))
    out += [
        _rw(comm, "HeartbeatInterval", "integer", 300, unit="s", min_limit=1),
        _rw(comm, "MessageAttempts", "integer", 3, instance="TransactionEvent", min_limit=1),
        _rw(
            comm,
            "MessageAttemptInterval",
            "integer",
            60,
            instance="TransactionEvent",
            unit="s",
            min_limit=0,
        ),
        # fixed by the YAML (csms.call_timeout_s, reconnect_*): reported, not writable
        _ro(
            comm,
            "MessageTimeout",
            "integer",
            max(1, math.ceil(csms.call_timeout_s)),
            instance="Default",
            unit="s",
        ),
        # A05: set through network.py, which checks the slots (SetNetworkProfile)
        _rw(comm, "NetworkConfigurationPriority", "SequenceList", "0", check=_slots),
        _rw(comm, "NetworkProfileConnectionAttempts", "integer", 3, min_limit=1),
        _rw(comm, "OfflineThreshold", "integer", 60, unit="s", min_limit=0),
        _rw(comm, "ResetRetries", "integer", 1, min_limit=0),
        _rw(comm, "WebSocketPingInterval", "integer", 30, unit="s", min_limit=0),
        _rw(comm, "UnlockOnEVSideDisconnect", "boolean", True),
        _ro(comm, "RetryBackOffWaitMinimum", "integer", math.ceil(csms.reconnect_min_s), unit="s"),
        _ro(
            comm,
            "RetryBackOffRandomRange",
            "integer",
            math.ceil(csms.reconnect_min_s / 2),
            unit="s",
        ),
        _ro(comm, "RetryBackOffRepeatTimes", "integer", repeat),
        # firmware downloads and log uploads (updates/transfer.py)
        _ro(comm, "FileTransferProtocols", "MemberList", "FTP,FTPS,HTTP,HTTPS",
            values_list=("FTP", "FTPS", "HTTP", "HTTPS", "SFTP")),  # fmt: skip
    ]

    tx = Component("TxCtrlr")
    out += [
        _rw(tx, "EVConnectionTimeOut", "integer", 60, unit="s", min_limit=1),
        _rw(tx, "StopTxOnEVSideDisconnect", "boolean", True),
        _rw(tx, "StopTxOnInvalidId", "boolean", True),
        _rw(tx, "MaxEnergyOnInvalidId", "integer", 0, unit="Wh", min_limit=0),
        _rw(
            tx,
            "TxStartPoint",
            "MemberList",
            "PowerPathClosed",
            values_list=TX_POINTS,
            check=_tx_points,
        ),
        _rw(
            tx,
            "TxStopPoint",
            "MemberList",
            "EVConnected,Authorized",
            values_list=TX_POINTS,
            check=_tx_points,
        ),
    ]

    sampled = Component("SampledDataCtrlr")
    out += [
        _rw(sampled, "Enabled", "boolean", True),
        _rw(
            sampled,
            "TxStartedMeasurands",
            "MemberList",
            "Energy.Active.Import.Register",
            values_list=MEASURANDS,
        ),
        _rw(sampled, "TxUpdatedInterval", "integer", 60, unit="s", min_limit=0),
        _rw(
            sampled,
            "TxUpdatedMeasurands",
            "MemberList",
            "Energy.Active.Import.Register,Power.Active.Import",
            values_list=MEASURANDS,
        ),
        _rw(sampled, "TxEndedInterval", "integer", 0, unit="s", min_limit=0),
        _rw(
            sampled,
            "TxEndedMeasurands",
            "MemberList",
            "Energy.Active.Import.Register",
            values_list=MEASURANDS,
        ),
        _ro(sampled, "SignReadings", "boolean", False),  # the meters give no signed values
    ]

    aligned = Component("AlignedDataCtrlr")
    out += [
        _rw(aligned, "Enabled", "boolean", True),
        _rw(aligned, "Interval", "integer", 0, unit="s", min_limit=0),
        _rw(
            aligned,
            "Measurands",
            "MemberList",
            "Energy.Active.Import.Register",
            values_list=MEASURANDS,
        ),
        _rw(aligned, "TxEndedInterval", "integer", 0, unit="s", min_limit=0),
        _rw(aligned, "TxEndedMeasurands", "MemberList", "", values_list=MEASURANDS),
        _rw(aligned, "SendDuringIdle", "boolean", False),
        _ro(aligned, "SignReadings", "boolean", False),  # the meters give no signed values
    ]

    auth = Component("AuthCtrlr")
    out += [
        # false: free charging, the EV's arrival authorizes (idToken type NoAuthorization)
        _rw(auth, "Enabled", "boolean", True),
        _rw(auth, "AuthorizeRemoteStart", "boolean", True),
        _rw(auth, "LocalAuthorizeOffline", "boolean", True),
        _rw(auth, "LocalPreAuthorize", "boolean", False),
        _rw(auth, "OfflineTxForUnknownIdEnabled", "boolean", False),
        _rw(auth, "DisableRemoteAuthorization", "boolean", False),
        # C16: tokens of this group stop every transaction and start none ("": no group)
        _rw(auth, "MasterPassGroupId", "string", "", max_limit=36),
    ]
    cache = Component("AuthCacheCtrlr")
    out += [
        _ro(cache, "Available", "boolean", True),
        _rw(cache, "Enabled", "boolean", True),
        _rw(cache, "LifeTime", "integer", 86400, unit="s", min_limit=0),
    ]
    local = Component("LocalAuthListCtrlr")
    out += [
        _ro(local, "Available", "boolean", True),
        _rw(local, "Enabled", "boolean", True),
        _dyn(local, "Entries", "integer"),
        _ro(local, "ItemsPerMessage", "integer", LOCAL_LIST_ITEMS_PER_MESSAGE),
        _ro(local, "BytesPerMessage", "integer", LOCAL_LIST_BYTES_PER_MESSAGE),
    ]
    # A and M (ocpp201/security.py, network.py): SecurityProfile and CertificateEntries come
    # from the security part; BasicAuthPassword goes to its credentials, never stored here
    security = Component("SecurityCtrlr")
    out += [
        _dyn(security, "SecurityProfile", "integer"),
        _rw(security, "OrganizationName", "string", st.vendor, max_limit=50),
        _ro(security, "Identity", "string", st.id),
        Variable(
            security,
            "BasicAuthPassword",
            "string",
            (Attribute(mutability=WRITE_ONLY),),
            max_limit=40,
            check=_credentials_only,
        ),
        _dyn(security, "CertificateEntries", "integer", max_limit=CERTIFICATE_ENTRIES),
        _ro(security, "AdditionalRootCertificateCheck", "boolean", False),
        _ro(security, "MaxCertificateChainSize", "integer", 10000),
        _rw(security, "CertSigningWaitMinimum", "integer", 60, unit="s", min_limit=1),
        _rw(security, "CertSigningRepeatTimes", "integer", 3, min_limit=0),
    ]
    data = Component("DeviceDataCtrlr")
    for message, items in ITEMS_PER_MESSAGE.items():
        out.append(_ro(data, "ItemsPerMessage", "integer", items, instance=message))
    for message in ITEMS_PER_MESSAGE:
        out.append(_ro(data, "BytesPerMessage", "integer", BYTES_PER_MESSAGE, instance=message))
    reservation = Component("ReservationCtrlr")
    out += [
        _ro(reservation, "Available", "boolean", True),
        _rw(reservation, "Enabled", "boolean", True),
        # reservations without an evseId (H01.FR.04..06)
        _rw(reservation, "NonEvseSpecific", "boolean", True),
    ]
    smart = Component("SmartChargingCtrlr")  # K: ocpp201/smart.py
    out += [
        _ro(smart, "Available", "boolean", True),
        _rw(smart, "Enabled", "boolean", True),
        _dyn(smart, "Entries", "integer", instance="ChargingProfiles"),
        # % change of an external limit worth a NotifyChargingLimit
        _rw(smart, "LimitChangeSignificance", "decimal", 10.0, min_limit=0, max_limit=100),
        _ro(smart, "PeriodsPerSchedule", "integer", PERIODS_PER_SCHEDULE),
        _ro(smart, "ProfileStackLevel", "integer", PROFILE_STACK_LEVEL),
        _ro(smart, "RateUnit", "MemberList", "A,W", values_list=("A", "W")),
        _rw(smart, "ExternalControlSignalsEnabled", "boolean", True),
        _rw(smart, "NotifyChargingLimitWithSchedules", "boolean", False),
        _ro(smart, "Phases3to1", "boolean", False),
    ]
    clock = Component("ClockCtrlr")
    out += [
        _dyn(clock, "DateTime", "dateTime"),
        _ro(clock, "TimeSource", "SequenceList", "Heartbeat"),
    ]
    from .display_variables import variables as display_variables

    out += display_variables()  # DisplayMessageCtrlr, TariffCostCtrlr
    from .monitoring_variables import variables as monitoring_variables

    out += monitoring_variables(config)  # MonitoringCtrlr, monitorable hardware values
    assert all(v.attributes[0].mutability in (READ_ONLY, READ_WRITE, WRITE_ONLY) for v in out)
    return out


def check_initial_value(
    component: str,
    variable: str,
    value: object,
    variables: Iterable[Variable] | None = None,
    connectors: int = 1,
) -> str | None:
    """Validate one YAML first-start value `ocpp.{component}.{variable}` (2.0.1): an error
    message (unknown, read-only, wrong type) or None. For the configuration loader."""
    if variables is None:
        from ..config import ConnectorConfig, CsmsConfig, StationInfo

        config = Config(
            path=None,  # type: ignore[arg-type]
            station=StationInfo(id="CP"),
            csms=CsmsConfig(url="ws://localhost/ocpp"),
            connectors=tuple(ConnectorConfig(id=n) for n in range(1, connectors + 1)),
        )
        variables = catalogue(config)
    found, error = resolve_initial(variables, component, variable)
    if error:
        return error
    try:
        parse(found[0], value)
    except ValueError as exc:
        return str(exc)
    return None
