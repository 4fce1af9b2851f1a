"""OCPP 2.0.1 Reservation (H01-H04): ReserveNow and CancelReservation through the core.

The core (core/reservations.py) holds the rules; here only the 2.0.1 names: a reservation
for an EVSE, for a connectorType (any EVSE with a connector of that type: the core's
`fits`), or for no EVSE (ReservationCtrlr.NonEvseSpecific); groupIdToken is the group
whose tokens may use it. ReservationStatusUpdate (Expired, Removed) is built here.
"""

from __future__ import annotations

import logging
from typing import Any

from ..core.model import Reservation, ReservationEnd, ReservationEnded
from .host import Host, info
from .payloads import parse_timestamp

log = logging.getLogger("chargerd.ocpp201")

# why a reservation ended -> ReservationUpdateStatusEnumType (used or cancelled: no update)
UPDATE_STATUS = {ReservationEnd.Expired: "Expired", ReservationEnd.Removed: "Removed"}


def connector_type(h: Host, evse: int) -> str:
    return str(h.dm.value("Connector", "ConnectorType", evse=evse, connector=1))


async def reserve_now(h: Host, p: dict[str, Any]) -> dict[str, Any]:
    station = h.rt.station
    evse, wanted_type = p.get("evseId"), p.get("connectorType")
    expires_at = parse_timestamp(p["expiryDateTime"])
    if expires_at is None:
        return {"status": "Rejected", "statusInfo": info("InvalidValue", "expiryDateTime")}
    if evse is not None and evse not in station.connectors:
        return {"status": "Rejected", "statusInfo": info("UnknownEvse", f"no EVSE {evse}")}
    fits = None
    if wanted_type is not None:
        fits = frozenset(c for c in station.connectors if connector_type(h, c) == wanted_type)
        if evse is not None and evse not in fits:
            text = f"EVSE {evse} has no {wanted_type} connector"
            return {"status": "Rejected", "statusInfo": info("UnknownConnectorType", text)}
    group = p.get("groupIdToken")
    r = Reservation(
        id=p["id"],
        id_tag=p["idToken"]["idToken"],
        expires_at=expires_at,
        connector=evse,
        parent_id=group["idToken"] if group else None,
        fits=fits if evse is None else None,
    )
    status = await h.rt.feed(lambda now: station.reserve(r, now))
    where = f"EVSE {evse}" if evse is not None else f"any EVSE ({wanted_type or 'any type'})"
    log.info("ReserveNow %d for %s on %s: %s", r.id, r.id_tag, where, status)
    return {"status": str(status)}


async def cancel_reservation(h: Host, p: dict[str, Any]) -> dict[str, Any]:
    station = h.rt.station
    rid = p["reservationId"]
    cancelled = await h.rt.feed(lambda now: station.cancel_reservation(rid, now))
    log.info("CancelReservation %d: %s", rid, "cancelled" if cancelled else "no such reservation")
    return {"status": "Accepted" if cancelled else "Rejected"}


def status_update(d: ReservationEnded) -> dict[str, Any] | None:
    """The ReservationStatusUpdate payload for a reservation that ended, or None (used or
    cancelled: the CSMS knows)."""
    status = UPDATE_STATUS.get(d.why)
    if status is None:
        return None
    return {"reservationId": d.reservation.id, "reservationUpdateStatus": status}
