"""OCPP 1.6 configuration keys: one table, read top to bottom.

Each key has a type, a default, whether the CSMS may change it, and whether a change
needs a reboot. Values are kept typed (bool/int/str); on the wire they are strings.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..measurands import MEASURANDS  # what the *SampledData / *AlignedData keys may list
from .local_list import LOCAL_AUTH_LIST_MAX_LENGTH, SEND_LOCAL_LIST_MAX_LENGTH

MAX_MEASURANDS = len(MEASURANDS)
FEATURE_PROFILES = (
    "Core,FirmwareManagement,LocalAuthListManagement,Reservation,RemoteTrigger,SmartCharging"
)


@dataclass(frozen=True)
class Key:
    name: str
    kind: str  # "bool", "int", "csl" (comma-separated measurand list), "str" or "json" (an object)
    default: bool | int | str
    writable: bool = True
    reboot: bool = False  # a change takes effect only after a reboot
    minimum: int = 0
    write_only: bool = False  # a secret: never in GetConfiguration answers nor in logs


KEYS: tuple[Key, ...] = (
    Key("AdditionalRootCertificateCheck", "bool", False, writable=False),  # security ext.
    Key("AllowOfflineTxForUnknownId", "bool", False),
    Key("AuthorizationCacheEnabled", "bool", True),
    # security extension: hex on the wire, the decoded bytes are the Basic auth password;
    # kept by the credentials (ocpp16/security.py), not in this table
    Key("AuthorizationKey", "str", "", write_only=True),
    Key("AuthorizeRemoteTxRequests", "bool", True),
    Key("CertificateSignedMaxChainSize", "int", 10000, writable=False),  # security ext.
    Key("CertificateStoreMaxLength", "int", 20, writable=False),  # security ext.
    # Smart Charging: the maxima ocpp16/smart.py checks profiles against
    Key("ChargeProfileMaxStackLevel", "int", 8, writable=False),
    Key("ChargingScheduleAllowedChargingRateUnit", "str", "Current,Power", writable=False),
    Key("ChargingScheduleMaxPeriods", "int", 24, writable=False),
    Key("ClockAlignedDataInterval", "int", 0),
    Key("ConnectionTimeOut", "int", 60, minimum=1),
    Key("ConnectorPhaseRotation", "str", "0.RST"),
    Key("ConnectorSwitch3to1PhaseSupported", "bool", False, writable=False),
    Key("CpoName", "str", ""),  # security ext.: O of the station certificate's CSR
    # OCA cost and price extension (ocpp16/cost.py): prices and costs on the screen
    Key("CustomDisplayCostAndPrice", "bool", True, writable=False),
    Key("CustomIdleFeeAfterStop", "bool", False, writable=False),  # not kept going
    Key("CustomMultiLanguageMessages", "bool", True, writable=False),
    Key("DefaultPrice", "json", ""),  # priceText, priceTextOffline, chargingPrice
    Key("DefaultPriceText", "json", ""),  # priceTexts: [{priceText, priceTextOffline, language}]
    Key("GetConfigurationMaxKeys", "int", 100, writable=False),
    Key("HeartbeatInterval", "int", 300, minimum=1),
    Key("Language", "str", "en"),  # cost extension: the screen's language (RFC 5646)
    Key("LocalAuthListEnabled", "bool", True),
    Key("LocalAuthListMaxLength", "int", LOCAL_AUTH_LIST_MAX_LENGTH, writable=False),
    Key("LocalAuthorizeOffline", "bool", True),
    Key("LocalPreAuthorize", "bool", False),
    Key("MaxChargingProfilesInstalled", "int", 32, writable=False),
    Key("MaxEnergyOnInvalidId", "int", 0),
    Key("MeterValuesAlignedData", "csl", "Energy.Active.Import.Register"),
    Key("MeterValuesAlignedDataMaxLength", "int", MAX_MEASURANDS, writable=False),
    Key("MeterValuesSampledData", "csl", "Energy.Active.Import.Register,Power.Active.Import"),
    Key("MeterValuesSampledDataMaxLength", "int", MAX_MEASURANDS, writable=False),
    Key("MeterValueSampleInterval", "int", 60),
    Key("MinimumStatusDuration", "int", 0),  # s a status must hold before it is reported
    Key("NextTimeOffsetTransitionDateTime", "str", ""),  # cost extension: when TimeOffset changes
    Key("NumberOfConnectors", "int", 0, writable=False),  # set from the YAML connectors
    Key("ReserveConnectorZeroSupported", "bool", True, writable=False),
    Key("ResetRetries", "int", 1),
    # security ext.: 0-3, up only; the credentials keep the active one (ocpp16/security.py)
    Key("SecurityProfile", "int", 0),
    Key("SendLocalListMaxLength", "int", SEND_LOCAL_LIST_MAX_LENGTH, writable=False),
    Key("StopTransactionOnEVSideDisconnect", "bool", True),
    Key("SupportedLanguages", "str", "en,de,fr,nl,es,it", writable=False),  # cost extension
    Key("StopTransactionOnInvalidId", "bool", True),
    Key("StopTxnAlignedData", "csl", ""),
    Key("StopTxnAlignedDataMaxLength", "int", MAX_MEASURANDS, writable=False),
    Key("StopTxnSampledData", "csl", ""),
    Key("StopTxnSampledDataMaxLength", "int", MAX_MEASURANDS, writable=False),
    Key("SupportedFeatureProfiles", "str", FEATURE_PROFILES, writable=False),
    # firmware downloads and log uploads (updates/transfer.py)
    Key("SupportedFileTransferProtocols", "str", "FTP,FTPS,HTTP,HTTPS", writable=False),
    Key("TimeOffset", "str", "+00:00"),  # cost extension: local time of the prices
    Key("TimeOffsetNextTransition", "str", ""),  # cost extension: TimeOffset from then on
    Key("TransactionMessageAttempts", "int", 3, minimum=1),
    Key("TransactionMessageRetryInterval", "int", 60),
    Key("UnlockConnectorOnEVSideDisconnect", "bool", True),
    Key("WebSocketPingInterval", "int", 30),
)
BY_NAME: dict[str, Key] = {k.name: k for k in KEYS}
# keys the security credentials keep (ocpp16/security.py), and their YAML setting
CREDENTIALS = {"AuthorizationKey": "csms.password", "SecurityProfile": "csms.security_profile"}
_BY_FOLDED: dict[str, Key] = {k.name.casefold(): k for k in KEYS}


def find(name: str) -> Key | None:
    """The key called `name`, whatever its case (keys are CiString50 in OCPP 1.6)."""
    return _BY_FOLDED.get(name.casefold())


def parse(key: Key, value: object) -> bool | int | str:
    """A typed value for `key` from a wire string or a YAML scalar; ValueError says why not."""
    text = str(value).strip() if not isinstance(value, bool) else ("true" if value else "false")
    if key.kind == "bool":
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise ValueError("must be true or false")
    if key.kind == "int":
        if isinstance(value, float) or not text.lstrip("-").isdigit():
            raise ValueError(f"must be a whole number ≥ {key.minimum}")
        number = int(text)
        if number < key.minimum:
            raise ValueError(f"must be a whole number ≥ {key.minimum}")
        return number
    if key.kind == "csl":
        items = [item.strip() for item in text.split(",") if item.strip()]
        unknown = [item for item in items if item not in MEASURANDS]
        if unknown:
            raise ValueError(
                f"unsupported measurand {unknown[0]!r}; allowed: {', '.join(MEASURANDS)}"
            )
        if len(items) > MAX_MEASURANDS:
            raise ValueError(f"at most {MAX_MEASURANDS} measurands")
        return ",".join(items)
    if key.kind == "json" and text:
        import json

        try:
            if not isinstance(json.loads(text), dict):
                raise ValueError
        except ValueError:
            raise ValueError("must be a JSON object") from None
    return text


def to_wire(value: bool | int | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_initial_value(name: str, value: object) -> str | None:
    """Validate a first-start value from the YAML `ocpp:` block; an error message or None."""
    key = BY_NAME.get(name)
    if key is None:
        import difflib

        close = difflib.get_close_matches(name, BY_NAME, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown OCPP 1.6 configuration key{hint}; allowed: {', '.join(BY_NAME)}"
    if not key.writable:
        return "is read-only (set by the station itself)"
    if name in CREDENTIALS:
        return f"is kept with the credentials: set {CREDENTIALS[name]} instead"
    if value is None or isinstance(value, list | dict):
        return f"must be a single {key.kind} value"
    try:
        parse(key, value)
    except ValueError as exc:
        return str(exc)
    return None
