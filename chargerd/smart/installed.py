"""The charging profiles a station holds: the checks before installing, replacement,
clearing, the end of a transaction's profiles, expiry, and the external constraints.

External constraints (an EMS, a grid operator's box: `chargerctl limit`) are kept as
ChargingStationExternalConstraints profiles with reserved ids, so they show in
GetChargingProfiles and GetCompositeSchedule like the rest; the CSMS cannot clear them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from .profiles import ChargingProfile, Kind, Period, Purpose, Rejection, Schedule
from .validation import problem

EXTERNAL_ID_BASE = 2_000_000_000  # + connector: the id of `chargerctl limit`'s profile


class InstalledProfiles:
    def __init__(
        self,
        connector_ids: Iterable[int],
        profiles: Iterable[ChargingProfile] = (),
        max_stack_level: int = 8,
        max_periods: int = 24,
        max_profiles: int = 32,
    ) -> None:
        self.connector_ids = set(connector_ids)
        self.max_stack_level = max_stack_level
        self.max_periods = max_periods
        self.max_profiles = max_profiles
        self._profiles = {p.id: p for p in profiles}

    def check(
        self, profile: ChargingProfile, now: float, transactions: dict[int, str]
    ) -> Rejection | None:
        """Why `profile` cannot be installed (version-neutral rules), or None.
        `transactions`: the running transactions by connector."""
        taken = self._profiles.get(profile.id)
        external = (Purpose.EXTERNAL, Purpose.EXTERNAL)
        if (
            taken is not None
            and (taken.purpose, profile.purpose) != external
            and (Purpose.EXTERNAL in (taken.purpose, profile.purpose))
        ):
            return Rejection.ID_TAKEN
        found = problem(profile, now, transactions, self.connector_ids, self.max_stack_level,
                        self.max_periods)  # fmt: skip
        if found is not None:
            return found
        kept = [
            p for p in self._replaced_by(profile, transactions) if p.purpose is not Purpose.EXTERNAL
        ]
        installed = sum(1 for p in self._profiles.values() if p.purpose is not Purpose.EXTERNAL)
        if profile.purpose is not Purpose.EXTERNAL and installed - len(kept) >= self.max_profiles:
            return Rejection.TOO_MANY_PROFILES
        return None

    def same_slot(self, profile: ChargingProfile) -> list[ChargingProfile]:
        """Installed profiles with another id at the same stack level, purpose and connector
        (and transaction): 1.6 replaces them, 2.0.1 rejects the new one."""
        slot = _slot(profile)
        return [p for p in self._profiles.values() if p.id != profile.id and _slot(p) == slot]

    def install(
        self, profile: ChargingProfile, now: float, transactions: dict[int, str] | None = None
    ) -> list[ChargingProfile]:
        """Install a checked profile; returns the ones it replaced (same id, or same stack
        level, purpose and connector). A TxProfile without a transactionId is bound to the
        transaction running on its connector (from `transactions`)."""
        if profile.purpose is Purpose.TX and profile.transaction_id is None and transactions:
            running = transactions.get(profile.connector)
            if running is not None:
                profile = replace(profile, transaction_id=running)
        replaced = self._replaced_by(profile, transactions or {})
        for old in replaced:
            del self._profiles[old.id]
        self._profiles[profile.id] = profile
        return replaced

    def _replaced_by(
        self, profile: ChargingProfile, transactions: dict[int, str]
    ) -> list[ChargingProfile]:
        if profile.purpose is Purpose.TX and profile.transaction_id is None:
            profile = replace(profile, transaction_id=transactions.get(profile.connector))
        same_id = [self._profiles[profile.id]] if profile.id in self._profiles else []
        return same_id + self.same_slot(profile)

    def clear(
        self,
        *,
        id: int | None = None,
        connector: int | None = None,
        purpose: Purpose | None = None,
        stack_level: int | None = None,
    ) -> list[ChargingProfile]:
        """Remove the profiles with `id`, or else matching every criterion given (none: all);
        returns them. External constraints only when `purpose` names them."""

        def matches(p: ChargingProfile) -> bool:
            if p.purpose is Purpose.EXTERNAL and purpose is not Purpose.EXTERNAL:
                return False
            if id is not None:
                return p.id == id
            return (
                (connector is None or p.connector == connector)
                and (purpose is None or p.purpose is purpose)
                and (stack_level is None or p.stack_level == stack_level)
            )

        return self._remove(matches)

    def profiles(
        self,
        *,
        connector: int | None = None,
        purpose: Purpose | None = None,
        stack_level: int | None = None,
        ids: Iterable[int] | None = None,
    ) -> list[ChargingProfile]:
        """The installed profiles matching every criterion given, external ones included."""
        wanted = None if ids is None else set(ids)
        found = [
            p
            for p in self._profiles.values()
            if (connector is None or p.connector == connector)
            and (purpose is None or p.purpose is purpose)
            and (stack_level is None or p.stack_level == stack_level)
            and (wanted is None or p.id in wanted)
        ]
        return sorted(found, key=lambda p: (p.connector, p.purpose, p.stack_level, p.id))

    def transaction_ended(self, transaction_id: str) -> list[ChargingProfile]:
        """The transaction's TxProfiles go with it."""
        return self._remove(
            lambda p: p.purpose is Purpose.TX and p.transaction_id == transaction_id
        )

    def expire(self, now: float) -> list[ChargingProfile]:
        """Remove the profiles whose validTo has passed."""
        return self._remove(lambda p: p.valid_to is not None and p.valid_to <= now)

    def _remove(self, matches: Callable[[ChargingProfile], bool]) -> list[ChargingProfile]:
        gone = [p for p in self._profiles.values() if matches(p)]
        for p in gone:
            del self._profiles[p.id]
        return gone

    # external constraints

    def set_external(
        self, connector: int, amps: float, source: str, now: float | None = None
    ) -> ChargingProfile:
        """An external limit on a connector (0: the whole station) until cleared."""
        profile = ChargingProfile(
            id=EXTERNAL_ID_BASE + connector,
            stack_level=0,
            purpose=Purpose.EXTERNAL,
            kind=Kind.ABSOLUTE,
            schedule=Schedule("A", (Period(0, float(amps)),), start=now),
            connector=connector,
            source=source,
        )
        self._profiles[profile.id] = profile
        return profile

    def clear_external(self, connector: int | None) -> list[ChargingProfile]:
        """Remove the external limit of `connector` (None: every one); returns them."""
        return self._remove(
            lambda p: _is_external_limit(p) and (connector is None or p.connector == connector)
        )

    @property
    def external(self) -> dict[int, tuple[float, str]]:
        """`chargerctl limit`'s limits: {connector: (amps, source)}."""
        return {
            p.connector: (p.schedule.periods[0].limit, p.source)
            for p in self._profiles.values()
            if _is_external_limit(p)
        }


def _slot(p: ChargingProfile) -> tuple[object, ...]:
    transaction = p.transaction_id if p.purpose is Purpose.TX else None
    return (p.stack_level, p.purpose, p.connector, transaction)


def _is_external_limit(profile: ChargingProfile) -> bool:
    own_id = EXTERNAL_ID_BASE + profile.connector
    return profile.purpose is Purpose.EXTERNAL and profile.id == own_id
