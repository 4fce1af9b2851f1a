"""OCPP 2.0.1 functional block K (smart charging): SetChargingProfile (K01),
GetCompositeSchedule (K08), GetChargingProfiles → ReportChargingProfiles (K09),
ClearChargingProfile (K10), the TxProfile of RequestStartTransaction (K05), translated to and
from the version-neutral engine that the daemon's "smart" part runs. Profiles are
translated in charging_profiles.py; external limits and offer changes are reported in
smart_reports.py.

The K01 rules the engine does not know are checked here and there, each Rejected with a
`statusInfo.reasonCode`: external constraints cannot come from the CSMS;
ChargingStationMaxProfile only on EVSE 0 and never Relative; Absolute/Recurring need
startSchedule, Relative must not have one; the unit must be in SmartChargingCtrlr.RateUnit;
the EVSE must exist; a TxProfile needs the transactionId of a transaction on that EVSE; a
different id with the same stackLevel, purpose and EVSE (and transaction) is Rejected rather
than replacing (1.6 replaced).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ..connection import RequestHandler
from ..core.model import Transaction
from ..ocpp16.smart import Invalid, Limits, SmartPart
from ..smart.profiles import ChargingProfile, Purpose
from .charging_profiles import profile_from_wire, reason_code
from .host import after_answer, info
from .payloads import timestamp
from .smart_reports import SmartReports

if TYPE_CHECKING:
    from .adapter import Ocpp201Adapter

log = logging.getLogger("chargerd.ocpp201")

CTRLR = "SmartChargingCtrlr"
PENDING_S = 600.0  # a RequestStart's TxProfile waits this long at most for its transaction


class SmartMessages201:
    """The block K requests of one 2.0.1 adapter."""

    def __init__(self, adapter: Ocpp201Adapter):
        self.a = adapter
        self.reports = SmartReports(adapter)
        # RequestStartTransaction's TxProfile until its transaction starts:
        # remoteStartId -> (ChargingProfileType, since)
        self._pending: dict[int, tuple[dict[str, Any], float]] = {}
        adapter.when_parts_built(self._part)  # the reports follow the part's limits

    def handlers(self) -> dict[str, RequestHandler]:
        return {
            "SetChargingProfile": self.set_charging_profile,
            "GetCompositeSchedule": self.get_composite_schedule,
            "GetChargingProfiles": self.get_charging_profiles,
            "ClearChargingProfile": self.clear_charging_profile,
        }

    def _v(self, name: str, **where: Any) -> Any:
        return self.a.dm.value(CTRLR, name, **where)

    def _part(self) -> SmartPart | None:
        runtime = getattr(self.a, "rt", None)
        part = runtime.parts.get("smart") if runtime is not None else None
        if part is not None:
            self.reports.attach(part)  # type: ignore[arg-type]
        return part if self._v("Enabled") else None  # type: ignore[return-value]

    def _limits(self) -> Limits:
        units = frozenset(u for u in str(self._v("RateUnit")).split(",") if u)
        return Limits(int(self._v("ProfileStackLevel")), int(self._v("PeriodsPerSchedule")), units)

    def entries(self) -> int:
        """SmartChargingCtrlr.Entries[ChargingProfiles]: the profiles installed."""
        part = self.a.rt.parts.get("smart")
        return len(part.engine.profiles()) if part is not None else 0  # type: ignore[attr-defined]

    # --- K01 ----------------------------------------------------------------------------

    async def set_charging_profile(self, p: dict[str, Any]) -> dict[str, Any]:
        part = self._part()
        evse, wire = p["evseId"], p["chargingProfile"]
        if part is None:
            why = info("NotEnabled", "SmartChargingCtrlr.Enabled is false")
            return {"status": "Rejected", "statusInfo": why}
        now = time.time()
        try:
            profile = self._checked(part, wire, evse, now)
        except Invalid as why:
            code, text = why.args if len(why.args) == 2 else ("InvalidProfile", str(why))
            log.info("SetChargingProfile %s on EVSE %d Rejected: %s", wire.get("id"), evse, text)
            return {"status": "Rejected", "statusInfo": info(code, text)}
        part.install(profile, now)
        self.reports.remember(wire)
        log.info(
            "charging profile %d (%s, stack level %d) installed on EVSE %d",
            profile.id,
            profile.purpose,
            profile.stack_level,
            evse,
        )
        return {"status": "Accepted"}

    def _checked(
        self, part: SmartPart, wire: dict[str, Any], evse: int, now: float
    ) -> ChargingProfile:
        if evse != 0 and evse not in self.a.rt.station.connectors:
            raise Invalid("UnknownEvse", f"no EVSE {evse}")
        profile = profile_from_wire(wire, evse, self._limits())
        running = part.transactions()
        if profile.purpose is Purpose.TX and running.get(evse) != profile.transaction_id:
            raise Invalid("TxNotFound", f"no transaction {profile.transaction_id} on EVSE {evse}")
        # K01.FR.39: another id in the same slot is refused, not replaced (1.6 replaced)
        clash = part.engine.same_slot(profile)
        if clash:
            text = f"profile {clash[0].id} has stack level {profile.stack_level} here"
            raise Invalid("DuplicateProfile", text)
        problem = part.engine.check(profile, now, running)
        if problem:
            raise Invalid(reason_code(problem), problem)
        return profile

    # --- K08 ----------------------------------------------------------------------------

    async def get_composite_schedule(self, p: dict[str, Any]) -> dict[str, Any]:
        part = self._part()
        evse, unit = p["evseId"], p.get("chargingRateUnit", "A")
        if part is None:
            why = info("NotEnabled", "SmartChargingCtrlr.Enabled is false")
            return {"status": "Rejected", "statusInfo": why}
        if evse != 0 and evse not in self.a.rt.station.connectors:
            return {"status": "Rejected", "statusInfo": info("UnknownEvse", f"no EVSE {evse}")}
        if unit not in self._limits().units:
            text = f"unit {unit} not in SmartChargingCtrlr.RateUnit"
            return {"status": "Rejected", "statusInfo": info("UnsupportedRateUnit", text)}
        now = time.time()
        duration = max(0, int(p["duration"]))
        periods = part.engine.composite(evse, now, duration, part.sessions(now), unit)
        return {
            "status": "Accepted",
            "schedule": {
                "evseId": evse,
                "duration": duration,
                "scheduleStart": timestamp(now),
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": [
                    {"startPeriod": x.start_s, "limit": round(x.limit_a, 1)} for x in periods
                ],
            },
        }

    # --- K09 ----------------------------------------------------------------------------

    async def get_charging_profiles(self, p: dict[str, Any]) -> dict[str, Any]:
        part = self._part()
        if part is None:
            return {"status": "NoProfiles"}
        criteria, evse = p["chargingProfile"], p.get("evseId")
        ids, sources = criteria.get("chargingProfileId"), criteria.get("chargingLimitSource")
        profiles = part.engine.profiles()  # external limits are profiles there too
        chosen = [
            x
            for x in profiles
            if (evse is None or x.connector == evse)
            and (ids is None or x.id in ids)
            and (sources is None or x.source in sources)
            and criteria.get("chargingProfilePurpose", x.purpose) == x.purpose
            and criteria.get("stackLevel", x.stack_level) == x.stack_level
        ]
        if not chosen:
            return {"status": "NoProfiles"}
        groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
        for x in sorted(chosen, key=lambda x: (x.connector, x.source, x.id)):
            groups.setdefault((x.connector, x.source), []).append(self.reports.wire(x))
        pages = [
            {
                "requestId": p["requestId"],
                "chargingLimitSource": source,
                "evseId": evse_id,
                "chargingProfile": listed,
                "tbc": n < len(groups) - 1,
            }
            for n, ((evse_id, source), listed) in enumerate(groups.items())
        ]
        after_answer(self.a, self._send_all(pages))
        return {"status": "Accepted"}

    async def _send_all(self, pages: list[dict[str, Any]]) -> None:
        for page in pages:
            await self.a.send("ReportChargingProfiles", page)

    # --- K10 ----------------------------------------------------------------------------

    async def clear_charging_profile(self, p: dict[str, Any]) -> dict[str, Any]:
        part = self._part()
        if part is None:
            return {"status": "Unknown"}
        profile_id, criteria = p.get("chargingProfileId"), p.get("chargingProfileCriteria")
        if profile_id is not None:
            found = part.engine.profiles(ids=[profile_id])
            external = any(x.purpose is Purpose.EXTERNAL for x in found)
            removed = [] if external or not found else part.clear(id=profile_id)
        elif criteria and criteria.get("chargingProfilePurpose") == Purpose.EXTERNAL:
            removed = []  # local systems' limits: the CSMS cannot clear them
        else:
            criteria = criteria or {}
            purpose = criteria.get("chargingProfilePurpose")
            removed = part.clear(
                connector=criteria.get("evseId"),
                purpose=Purpose(purpose) if purpose else None,
                stack_level=criteria.get("stackLevel"),
            )
        self.reports.forget([x.id for x in removed])
        log.info("ClearChargingProfile %s removed %s", p, [x.id for x in removed] or "nothing")
        if removed:
            return {"status": "Accepted"}
        return {"status": "Unknown", "statusInfo": info("NoProfiles", "nothing matched")}

    # --- K05: RequestStartTransaction with a TxProfile ----------------------------------

    def remote_start_refused(self, p: dict[str, Any]) -> dict[str, Any] | None:
        """Check the TxProfile of a RequestStartTransaction; kept until the transaction it
        starts begins. A Rejected answer, or None."""
        wire = p.get("chargingProfile")
        if wire is None:
            return None
        part = self._part()
        try:
            if part is None:
                raise Invalid("NotEnabled", "SmartChargingCtrlr.Enabled is false")
            if wire["chargingProfilePurpose"] != Purpose.TX or "transactionId" in wire:
                raise Invalid("InvalidProfile", "a TxProfile without transactionId is wanted")
            probe = profile_from_wire(
                {**wire, "transactionId": "remote start"}, p.get("evseId") or 1, self._limits()
            )
            problem = part.engine.check(probe, time.time(), {probe.connector: "remote start"})
            if problem:
                raise Invalid(reason_code(problem), problem)
        except Invalid as why:
            code, text = why.args if len(why.args) == 2 else ("InvalidProfile", str(why))
            log.info("RequestStartTransaction Rejected: its charging profile: %s", text)
            return {"status": "Rejected", "statusInfo": info(code, text)}
        self._pending[p["remoteStartId"]] = (wire, time.time())
        if p.get("evseId"):
            part.hold(p["evseId"], probe, time.time())  # from the first offer on
        return None

    def remote_start_answered(self, p: dict[str, Any], tx: Transaction | None) -> None:
        """After the start: a transaction already running on the EVSE (begun at the EV or
        the bay, authorized now) gets the profile at once; otherwise it waits for the
        transaction with this remoteStartId (a refused start never makes one; it expires)."""
        pending = self._pending.get(p["remoteStartId"]) if "chargingProfile" in p else None
        part, evse = self._part(), p.get("evseId")
        if pending is not None and tx is None and part is not None and evse:
            c = self.a.rt.station.connectors[evse]
            if c.authorization is None and c.transaction is None:
                part.hold(evse, None, time.time())  # the start was refused
        if pending is not None and tx is not None:
            del self._pending[p["remoteStartId"]]
            self._bind(pending[0], tx)

    def transaction_started(self, tx: Transaction) -> None:
        """Bind a RequestStart's TxProfile to the transaction the station began for it,
        before the part sees the start: it applies from the first moment."""
        now = time.time()
        for remote_id, (_, since) in list(self._pending.items()):
            if now - since > PENDING_S:
                del self._pending[remote_id]
        if tx.remote_start_id is None or tx.remote_start_id not in self._pending:
            return
        wire, _ = self._pending.pop(tx.remote_start_id)
        self._bind(wire, tx)

    def _bind(self, wire: dict[str, Any], tx: Transaction) -> None:
        part = self._part()
        if part is None:
            return
        bound = {**wire, "transactionId": tx.id}  # visible so in GetChargingProfiles
        try:
            profile = profile_from_wire(bound, tx.connector, self._limits())
        except Invalid as why:
            log.warning("RequestStart TxProfile not installed: %s", why.args[-1])
            return
        part.install(profile, time.time())
        self.reports.remember(bound)
        log.info("RequestStart TxProfile %d bound to transaction %s", profile.id, tx.id)
