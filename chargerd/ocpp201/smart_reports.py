"""What OCPP 2.0.1 smart charging tells the CSMS unasked (K11-K13, K02), and profiles as
ChargingProfileType for ReportChargingProfiles (K09).

- An external limit (`chargerctl limit`, an EMS) set or changed by more than
  SmartChargingCtrlr.LimitChangeSignificance % → NotifyChargingLimit (with its schedule
  only under NotifyChargingLimitWithSchedules); removed → ClearedChargingLimit.
- The offer of a connector with a transaction changed → TransactionEvent Updated
  ChargingRateChanged (kept offline like every TransactionEvent).
- Profiles for ReportChargingProfiles: the CSMS's as they were set (their schedule ids
  kept), from a copy in the store's meta table; the engine's own (external limits, kept as
  ChargingStationExternalConstraints profiles of their source) rebuilt.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from ..ocpp16.smart import SmartPart
from ..smart.profiles import ChargingProfile, Limit
from .charging_profiles import wire_profile
from .payloads import timestamp

if TYPE_CHECKING:
    from .adapter import Ocpp201Adapter

log = logging.getLogger("chargerd.ocpp201")

CTRLR = "SmartChargingCtrlr"
WIRE_KEY = "ocpp201.profile.{}"  # store meta: the ChargingProfileType as set, per id


class SmartReports:
    """Messages the station sends of itself about smart charging, for one adapter."""

    def __init__(self, adapter: Ocpp201Adapter):
        self.a = adapter
        self._part: SmartPart | None = None
        self._notified: dict[int, float] = {}  # connector -> external limit last notified

    def attach(self, part: SmartPart) -> None:
        """Follow the part's limits (once)."""
        if self._part is part:
            return
        self._part = part
        part.on_limit_changed.append(self.limit_changed)
        part.external_changed.append(self.external_changed)

    # --- profiles as set -------------------------------------------------------------------

    def remember(self, wire: dict[str, Any]) -> None:
        self.a.store.set_meta(WIRE_KEY.format(wire["id"]), json.dumps(wire))

    def forget(self, ids: list[int]) -> None:
        for profile_id in ids:
            self.a.store.set_meta(WIRE_KEY.format(profile_id), "")

    def wire(self, profile: ChargingProfile) -> dict[str, Any]:
        """As the CSMS set it when that copy is of this profile, else rebuilt."""
        stored = self.a.store.get_meta(WIRE_KEY.format(profile.id))
        if stored:
            wire = json.loads(stored)
            same = (wire.get("stackLevel"), wire.get("chargingProfilePurpose"))
            if same == (profile.stack_level, str(profile.purpose)):
                return wire
        return wire_profile(profile)

    # --- unasked messages --------------------------------------------------------------------

    def limit_changed(self, connector: int, new: Limit, old: Limit | None) -> None:
        if old is not None and new.offered_a != old.offered_a:
            self.a.events.charging_rate_changed(connector, time.time())

    def external_changed(self, connector: int, amps: float | None, source: str) -> None:
        where = {"evseId": connector} if connector > 0 else {}  # evseId > 0 when given
        if amps is None:
            self._notified.pop(connector, None)
            payload = {"chargingLimitSource": source, **where}
            self.a.spawn(self.a.send("ClearedChargingLimit", payload))
            return
        last = self._notified.get(connector)
        significance = float(self.a.dm.value(CTRLR, "LimitChangeSignificance"))
        if last is not None and last > 0 and abs(amps - last) / last * 100 < significance:
            log.info("external limit %.1f A on %d: a change not worth reporting", amps, connector)
            return
        self._notified[connector] = amps
        payload: dict[str, Any] = {"chargingLimit": {"chargingLimitSource": source}, **where}
        if self.a.dm.value(CTRLR, "NotifyChargingLimitWithSchedules"):
            now = time.time()
            schedule = {
                "id": connector,
                "startSchedule": timestamp(now),
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": amps}],
            }
            payload["chargingSchedule"] = [schedule]
        self.a.spawn(self.a.send("NotifyChargingLimit", payload))
