"""OCPP 1.6 Reservation profile: ReserveNow and CancelReservation answered through the core.

The core (core/reservations.py) holds the rules; here are only the 1.6 names: connector 0
means "any connector" (allowed while ReserveConnectorZeroSupported is true, which the core
knows as `reserve_any_connector`), parentIdTag is the reservation's group.
"""

from __future__ import annotations

import logging
from typing import Any

from ..adapter import Runtime
from ..core.model import Reservation
from .payloads import parse_timestamp

log = logging.getLogger("chargerd.ocpp16")


async def reserve_now(rt: Runtime, p: dict[str, Any]) -> dict[str, Any]:
    station = rt.station
    connector = p["connectorId"] or None  # 0: the station as a whole
    expires_at = parse_timestamp(p["expiryDate"])
    if expires_at is None or (connector is not None and connector not in station.connectors):
        return {"status": "Rejected"}
    r = Reservation(
        id=p["reservationId"],
        id_tag=p["idTag"],
        expires_at=expires_at,
        connector=connector,
        parent_id=p.get("parentIdTag"),
    )
    status = await rt.feed(lambda now: station.reserve(r, now))
    log.info(
        "ReserveNow %d for %s on connector %d until %s: %s",
        r.id,
        r.id_tag,
        p["connectorId"],
        p["expiryDate"],
        status,
    )
    return {"status": str(status)}


async def cancel_reservation(rt: Runtime, p: dict[str, Any]) -> dict[str, Any]:
    station = rt.station
    rid = p["reservationId"]
    cancelled = await rt.feed(lambda now: station.cancel_reservation(rid, now))
    log.info("CancelReservation %d: %s", rid, "cancelled" if cancelled else "no such reservation")
    return {"status": "Accepted" if cancelled else "Rejected"}
