"""What OCPP 2.0.1 smart charging tells the CSMS unasked (K11-K13, K02), and profiles as
ChargingProfileType for ReportChargingProfiles (K09).

- An external limit (`chargerctl limit`, an EMS) set or changed by more than
  SmartChargingCtrlr.LimitChangeSignificance % → NotifyChargingLimit (with its schedule
  only under NotifyChargingLimitWithSchedules); removed → ClearedChargingLimit.
- The offer of a connector with a transaction changed by more than that → TransactionEvent
  Updated ChargingRateChanged (kept offline like every TransactionEvent).
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
        self._rate: dict[int, tuple[str, float]] = {}  # connector -> (tx, offer last told)

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

    def _significant(self, last: float, now: float) -> bool:
        """A change worth a message: LimitChangeSignificance says smaller ones MAY be left
        out (under a site limit the offer follows the measured draw every second)."""
        if last <= 0 or now <= 0:
            return last != now
        return abs(now - last) / last * 100 >= float(
            self.a.dm.value(CTRLR, "LimitChangeSignificance")
        )

    def limit_changed(self, connector: int, new: Limit, old: Limit | None) -> None:
        tx_id = self.a.events.connector_tx.get(connector)
        if old is None or tx_id is None or new.offered_a == old.offered_a:
            return
        told = self._rate.get(connector)
        last = told[1] if told is not None and told[0] == tx_id else old.offered_a
        if self._significant(last, new.offered_a):
            self._rate[connector] = (tx_id, new.offered_a)
            self.a.events.charging_rate_changed(connector, time.time())
        else:  # the next change is measured from what the CSMS was told
            self._rate[connector] = (tx_id, last)

    def external_changed(self, connector: int, amps: float | None, source: str) -> None:
        where = {"evseId": connector} if connector > 0 else {}  # evseId > 0 when given
        if amps is None:
            self._notified.pop(connector, None)
            payload = {"chargingLimitSource": source, **where}
            self.a.spawn(self.a.send("ClearedChargingLimit", payload))
            return
        last = self._notified.get(connector)
        if last is not None and not self._significant(last, amps):
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
