"""Reservation rules of the station core: which connector is kept for whom, and until when.

A reservation keeps one connector (or, without a connector, any one of those that fit) for
an id tag or any tag of its group (OCPP 1.6 parentIdTag, 2.0.1 groupIdToken) until it
expires, is cancelled, or a transaction starts with it. Reservations for no connector in
particular count against the free connectors that fit them: while there are more free ones
than such reservations nobody is turned away; once there are as many, those left are shown
Reserved and refuse other tags.

Part of `Station` (a mixin, like `AuthorizationRules`): it reads the station's connectors
and settles them; no I/O, time is an argument.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .authorization import same_tag
from .model import (
    Authorization,
    CoreSettings,
    Decision,
    Reservation,
    ReservationEnd,
    ReservationEnded,
    ReservationMade,
    ReserveStatus,
)

if TYPE_CHECKING:
    from .connector import Connector


def matches(r: Reservation, id_tag: str, parent_id: str | None) -> bool:
    """The tag itself, or a tag of the reservation's group."""
    if same_tag(r.id_tag, id_tag):
        return True
    return bool(r.parent_id and parent_id and same_tag(r.parent_id, parent_id))


class ReservationRules:
    # what the station provides
    settings: CoreSettings
    connectors: dict[int, Connector]
    reservations: dict[int, Reservation]
    _decisions: list[Decision]
    _settle_one: Callable[[Connector, float], None]

    # --- inputs: the CSMS ---------------------------------------------------------------------

    def reserve(self, r: Reservation, now: float) -> ReserveStatus:
        """A reservation request. One with the id of a reservation already made replaces it
        if accepted (the old one is left out of the checks)."""
        if not self.settings.reservations_enabled:
            return ReserveStatus.Rejected
        if r.expires_at <= now:
            return ReserveStatus.Rejected
        others = {k: v for k, v in self.reservations.items() if k != r.id}
        if r.connector is None:
            status = self._any_connector_status(r, others)
        else:
            status = self._connector_status(r, others)
        if status is ReserveStatus.Accepted:
            self.reservations = {**others, r.id: r}
            self._decisions.append(ReservationMade(r))
            self._settle_all(now)
        return status

    def cancel_reservation(self, reservation_id: int, now: float) -> bool:
        """False: no such reservation (the CSMS gets Rejected)."""
        r = self.reservations.get(reservation_id)
        if r is None:
            return False
        self._end_reservation(r, ReservationEnd.Cancelled, now)
        return True

    # --- checks --------------------------------------------------------------------------------

    def _connector_status(self, r: Reservation, others: dict[int, Reservation]) -> ReserveStatus:
        c = self.connectors.get(r.connector or 0)
        if c is None:
            return ReserveStatus.Rejected
        if c.faults:
            return ReserveStatus.Faulted
        if not c.operative or c.scheduled_operative is False:
            return ReserveStatus.Unavailable
        if not self._free(c, others):
            return ReserveStatus.Occupied
        # the connector must not be the one promised to a reservation for any connector
        if not self._enough_free({**others, r.id: r}):
            return ReserveStatus.Occupied
        return ReserveStatus.Accepted

    def _any_connector_status(
        self, r: Reservation, others: dict[int, Reservation]
    ) -> ReserveStatus:
        if not self.settings.reserve_any_connector:
            return ReserveStatus.Rejected
        fitting = [c for c in self.connectors.values() if _fits(r, c.id)]
        if not fitting:
            return ReserveStatus.Rejected  # e.g. no connector of that type
        if self._enough_free({**others, r.id: r}):
            return ReserveStatus.Accepted
        if all(c.faults for c in fitting):
            return ReserveStatus.Faulted
        if all(c.faults or not c.operative for c in fitting):
            return ReserveStatus.Unavailable
        return ReserveStatus.Occupied

    def _free(self, c: Connector, reservations: dict[int, Reservation]) -> bool:
        """Nobody uses or holds the connector: it could be given to a reservation."""
        return (
            c.operative
            and c.scheduled_operative is None
            and not c.faults
            and c.transaction is None
            and not c.plugged
            and c.authorization is None
            and not any(r.connector == c.id for r in reservations.values())
        )

    def _keepable(self, c: Connector, reservations: dict[int, Reservation]) -> bool:
        """The connector can still be kept for a reservation: nobody charges there and no
        other tag has it (an EV plugged in without a tag may be the reservation's)."""
        auth = c.authorization
        return (
            c.operative
            and c.scheduled_operative is None
            and not c.faults
            and c.transaction is None
            and not c.finishing
            and (auth is None or auth.reservation_id is not None)
            and not any(r.connector == c.id for r in reservations.values())
        )

    def _enough_free(self, reservations: dict[int, Reservation]) -> bool:
        """Every reservation for any connector can still be given one of its own."""
        anywhere = [r for r in reservations.values() if r.connector is None]
        return all(
            len(self._free_fitting(r, reservations)) >= len(_overlapping(r, anywhere))
            for r in anywhere
        )

    def _free_fitting(
        self, r: Reservation, reservations: dict[int, Reservation], *, keepable: bool = False
    ) -> list[int]:
        free = self._keepable if keepable else self._free
        return [c.id for c in self.connectors.values() if _fits(r, c.id) and free(c, reservations)]

    # --- the connectors' Reserved fact -------------------------------------------------------

    def _holders(self, c: Connector) -> list[Reservation]:
        """The reservations that keep `c` from other tags now: its own, or those for any
        connector when no more free ones that fit are left than there are such reservations."""
        if not self.reservations:  # the usual case, on every settle
            return []
        own = [r for r in self.reservations.values() if r.connector == c.id]
        if own:
            return own
        if not self._keepable(c, self.reservations):
            return []
        anywhere = [r for r in self.reservations.values() if r.connector is None]
        return [
            r
            for r in anywhere
            if _fits(r, c.id)
            and len(self._free_fitting(r, self.reservations, keepable=True))
            <= len(_overlapping(r, anywhere))
        ]

    def _settle_all(self, now: float) -> None:
        self._mark_reserved()
        for c in self.connectors.values():
            self._settle_one(c, now)

    def _mark_reserved(self) -> list[Connector]:
        """Bring every connector's `reserved` fact up to date; the connectors it changed."""
        changed = []
        for c in self.connectors.values():
            reserved = bool(self._holders(c))
            if c.reserved != reserved:
                c.reserved = reserved
                changed.append(c)
        return changed

    # --- using a reservation --------------------------------------------------------------------

    def _claim(self, c: Connector, auth: Authorization) -> bool:
        """May this tag start on `c`? If it does so with a reservation, the authorization
        carries its id. False: `c` is kept for another tag."""
        holders = self._holders(c)
        tag, group = auth.id_tag, auth.parent_id
        mine = [r for r in holders if matches(r, tag, group)]
        if not mine and self.reservations and self._keepable(c, self.reservations):
            # not kept from it, but a reservation of this tag for any connector fits here
            mine = [
                r
                for r in self.reservations.values()
                if r.connector is None and _fits(r, c.id) and matches(r, tag, group)
            ]
        if holders and not mine:
            return False
        auth.reservation_id = mine[0].id if mine else None
        return True

    def _reserved_connector(self, id_tag: str, parent_id: str | None) -> int | None:
        """The connector reserved for this tag (its own reservation), if any."""
        for r in self.reservations.values():
            if r.connector is not None and matches(r, id_tag, parent_id):
                return r.connector
        return None

    def _use_reservation(self, reservation_id: int | None, now: float) -> None:
        r = self.reservations.get(reservation_id) if reservation_id is not None else None
        if r is not None:
            self._end_reservation(r, ReservationEnd.Used, now)

    # --- ending ---------------------------------------------------------------------------------

    def _expire_reservations(self, now: float) -> None:
        for r in [r for r in self.reservations.values() if r.expires_at <= now]:
            self._end_reservation(r, ReservationEnd.Expired, now)

    def _remove_reservations(self, c: Connector, now: float) -> None:
        """The connector became faulted or unavailable: its reservations are removed."""
        for r in [r for r in self.reservations.values() if r.connector == c.id]:
            self._end_reservation(r, ReservationEnd.Removed, now)

    def _end_reservation(self, r: Reservation, why: ReservationEnd, now: float) -> None:
        del self.reservations[r.id]
        self._decisions.append(ReservationEnded(r, why))
        self._settle_all(now)


def _fits(r: Reservation, connector: int) -> bool:
    if r.connector is not None:
        return r.connector == connector
    return r.fits is None or connector in r.fits


def _overlapping(r: Reservation, anywhere: list[Reservation]) -> list[Reservation]:
    """The reservations for any connector that compete with `r` for its connectors."""
    return [
        o for o in anywhere if r.fits is None or o.fits is None or not r.fits.isdisjoint(o.fits)
    ]
