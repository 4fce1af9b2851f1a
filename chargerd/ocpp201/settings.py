"""The 2.0.1 device model as the adapter reads it: its values mapped onto the core's rules
(`_apply_settings`), what a change of a variable sets off, and the values read from the
station and the parts rather than stored (`_dynamic`). A part of `Ocpp201Adapter` (a mixin)."""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, Any

from ..adapter import Runtime
from ..config import Config
from ..core.model import CoreSettings
from ..local_list import LocalList
from . import monitoring_variables
from .components import ACTUAL, Value, Variable
from .device_model import DeviceModel
from .payloads import connector_status, timestamp
from .tx_points import tx_policy

if TYPE_CHECKING:
    from .smart import SmartMessages201

log = logging.getLogger("chargerd.ocpp201")


def _gcd(*intervals: int) -> int:
    positive = [i for i in intervals if i > 0]
    return math.gcd(*positive) if positive else 0


class DeviceModelSettings:
    # what the adapter provides
    config: Config
    dm: DeviceModel
    settings: CoreSettings
    rt: Runtime
    local_list: LocalList
    _online: bool  # connected and registered
    if TYPE_CHECKING:  # declared only: the adapter's own must not be shadowed

        @property
        def smart(self) -> SmartMessages201: ...

        def heartbeat_changed(self) -> None: ...

        def security_event(self, kind: str, info: str) -> None: ...

    def _v(self, component: str, name: str, **where: Any) -> Value:
        return self.dm.value(component, name, **where)

    def _apply_settings(self) -> None:
        v, s = self._v, self.settings
        s.connection_timeout_s = int(v("TxCtrlr", "EVConnectionTimeOut"))
        stop_points = set(str(v("TxCtrlr", "TxStopPoint")).split(","))
        s.tx_policy = tx_policy(str(v("TxCtrlr", "TxStartPoint")), str(v("TxCtrlr", "TxStopPoint")))
        # AuthCtrlr.Enabled false: the EV's arrival authorizes, idToken type NoAuthorization
        free = not v("AuthCtrlr", "Enabled") or self.config.auth.free
        s.free_id_tag = "" if free else None
        s.stop_on_ev_disconnect = "EVConnected" in stop_points
        # "deauthorize the transaction when the cable is unplugged from the EV": it ends
        # there only if Authorized (or the power path, the energy) is a stop point
        s.deauthorize_on_ev_disconnect = bool(v("TxCtrlr", "StopTxOnEVSideDisconnect"))
        s.unlock_on_ev_disconnect = bool(v("OCPPCommCtrlr", "UnlockOnEVSideDisconnect"))
        pre_authorize = bool(v("AuthCtrlr", "LocalPreAuthorize"))
        offline_local = bool(v("AuthCtrlr", "LocalAuthorizeOffline"))
        # offline, a cached tag is taken at once only if LocalAuthorizeOffline allows it
        s.local_pre_authorize = pre_authorize and (self._online or offline_local)
        s.local_authorize_offline = offline_local
        s.allow_offline_unknown_id = bool(v("AuthCtrlr", "OfflineTxForUnknownIdEnabled"))
        s.authorize_remote_start = bool(v("AuthCtrlr", "AuthorizeRemoteStart"))
        s.stop_on_invalid_id = bool(v("TxCtrlr", "StopTxOnInvalidId"))
        s.max_energy_on_invalid_id_wh = int(v("TxCtrlr", "MaxEnergyOnInvalidId"))
        s.auth_cache_enabled = bool(v("AuthCacheCtrlr", "Enabled"))
        s.reservations_enabled = bool(v("ReservationCtrlr", "Enabled"))
        s.reserve_any_connector = bool(v("ReservationCtrlr", "NonEvseSpecific"))
        s.local_auth_list_enabled = bool(v("LocalAuthListCtrlr", "Enabled"))
        s.master_pass_group = str(v("AuthCtrlr", "MasterPassGroupId")) or None
        # The core samples at one interval: the greatest common divisor of the intervals of
        # the Updated events and of the samples kept for Ended (transactions.py picks them).
        sampled, aligned = "SampledDataCtrlr", "AlignedDataCtrlr"
        s.sample_interval_s = (
            _gcd(int(v(sampled, "TxUpdatedInterval")), int(v(sampled, "TxEndedInterval")))
            if v(sampled, "Enabled")
            else 0
        )
        s.aligned_interval_s = (
            _gcd(int(v(aligned, "Interval")), int(v(aligned, "TxEndedInterval")))
            if v(aligned, "Enabled")
            else 0
        )

    def variables_changed(self, changed: list[Variable], by: str = "the CSMS") -> None:
        self._apply_settings()
        for var in changed:
            actual = var.attribute(ACTUAL)
            shown = self.dm.read(var) if actual is not None and actual.readable else "***"
            log.info("%s set to %s by %s", var.key, shown, by)
            if var.name == "HeartbeatInterval":
                self.heartbeat_changed()
        security = [v.key for v in changed if v.component.name == "SecurityCtrlr"]
        if security:
            self.security_event("ReconfigurationOfSecurityParameters", ", ".join(security))

    def _set(self, component: str, name: str, value: Value, by: str) -> None:
        var = self.dm.find(component, name)
        if self.dm.read(var) == value:
            return
        self.dm.put(var, value)
        self.variables_changed([var], by)

    def _dynamic(self, var: Variable, attribute: str) -> Value | None:
        comp, name = var.component, var.name
        if comp.name == "ClockCtrlr" and name == "DateTime":
            return timestamp(time.time())
        if comp.name == "LocalAuthListCtrlr" and name == "Entries":
            return len(self.local_list)
        if comp.name == "DisplayMessageCtrlr":
            from . import display

            return display.dynamic(self, name)
        if monitoring_variables.reads(var):
            from . import monitoring  # (the monitors: imported when first read)

            return monitoring.dynamic(self, var)
        if comp.name == "SmartChargingCtrlr" and name == "Entries":
            return self.smart.entries() if hasattr(self, "rt") else 0
        runtime = getattr(self, "rt", None)
        if runtime is None:
            return None
        station = runtime.station
        connectors = list(station.connectors.values())
        if comp.name == "ChargingStation":
            if name == "AvailabilityState":
                return "Unavailable" if all(not c.operative for c in connectors) else "Available"
            if name == "Available":
                return True
            if name == "Problem":
                return any(c.faults for c in connectors)
            return None
        c = station.connectors.get(comp.evse) if comp.evse is not None else None
        if c is None:
            return None
        if name == "AvailabilityState":
            return connector_status(c.status)
        if name == "Available":
            return True
        if name == "Problem":
            return bool(c.faults)
        if name == "Power":
            reading = station.readings.get(c.id)
            return round(reading.power_w, 1) if reading else 0.0
        return None
