"""What the station authenticates with, as the YAML starts it and the CSMS changes it.

The security profile (1: Basic auth, 2: TLS + Basic auth, 3: mutual TLS), the Basic auth
password and the client certificate. What the CSMS set is kept in the store and wins over
the YAML at later starts; the profile never goes down, not even by editing the YAML.

A change the CSMS makes is tried before it is trusted: the next connection uses the new
password (profile, certificate), and only once that connection is up does it replace the
old one. A refused login (or TLS handshake), or MAX_TRIAL_FAILURES failed attempts, drop
the new value and the old one is used again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .keys import ClientFiles, StationCertificate

log = logging.getLogger("chargerd.security")

PROFILE_KEY = "security.profile"
PASSWORD_KEY = "security.password"
NEW_PASSWORD_KEY = "security.password.new"  # on trial: kept over a restart
MAX_TRIAL_FAILURES = 3
# 2.0.1 SecurityCtrlr.BasicAuthPassword: 16-40 characters of this set (A01); later
# editions allow up to the variable's maxLimit, at most 64.
PASSWORD_CHARS = re.compile(r"[a-zA-Z0-9*\-_=:+|@.]{16,64}")


def password_problem(password: str) -> str | None:
    """Why a Basic auth password from the CSMS cannot be used (None: it can)."""
    if not PASSWORD_CHARS.fullmatch(password):
        return "16-64 characters of a-z A-Z 0-9 * - _ = : + | @ . wanted"
    return None


@dataclass(frozen=True)
class Attempt:
    """What one connection attempt authenticates with."""

    profile: int
    password: str | None  # Basic auth (profiles 1 and 2)
    client: ClientFiles | None  # the client certificate (profile 3)
    trial: str | None = None  # "profile", "password", "certificate": the new value tried


class Credentials:
    """The station's credentials toward the CSMS (persisted in the store's meta table)."""

    def __init__(
        self,
        store: Any,  # chargerd.store.Store: get_meta / set_meta
        yaml_profile: int,
        yaml_password: str | None,
        station: StationCertificate,
        has_csms_root: Callable[[], bool],
    ):
        self.store = store
        self.station = station
        self._has_csms_root = has_csms_root
        # the highest profile that has connected; the YAML may ask for more, never for less
        self._profile = max(int(store.get_meta(PROFILE_KEY) or 0), yaml_profile)
        self._yaml_password = yaml_password
        self._new_profile: int | None = None
        self._trial_failures = 0
        # told when a change wants a new connection (the link reconnects)
        self.changed: list[Callable[[], None]] = []

    @property
    def profile(self) -> int:
        """The active security profile (the one that last worked, or the YAML's)."""
        return self._profile

    @property
    def password(self) -> str | None:
        """The password that last worked (the CSMS's, else the YAML's). Never log it."""
        return self.store.get_meta(PASSWORD_KEY) or self._yaml_password

    def set_password(self, new: str) -> None:
        """A new Basic auth password from the CSMS (checked by the adapter with
        `password_problem`): tried on a new connection at once, kept once it worked."""
        self.store.set_meta(NEW_PASSWORD_KEY, new)
        self._trial_failures = 0
        log.info("the CSMS set a new password: reconnecting with it")
        self._changed()

    def upgrade_profile(self, profile: int) -> str | None:
        """Raise the security profile (1.6 SecurityProfile, 2.0.1 SetNetworkProfile): None
        when the station reconnects with it, else why it cannot (the answer is Rejected)."""
        if profile < self._profile:
            return f"profile {profile} is lower than the active profile {self._profile}"
        if profile == self._profile:
            return None
        if profile not in (2, 3):
            return f"profile {profile} is not 1, 2 or 3"
        if not self._has_csms_root():
            return "no CSMS root certificate is installed"
        if profile == 3 and self.station.for_connection() is None:
            return "no client certificate is installed"
        if profile == 2 and not self.password:
            return "no Basic auth password is set"
        self._new_profile = profile
        self._trial_failures = 0
        log.info("the CSMS raised the security profile to %d: reconnecting", profile)
        self._changed()
        return None

    def _changed(self) -> None:
        for hook in self.changed:
            hook()

    # --- the link's side ----------------------------------------------------------------

    def attempt(self) -> Attempt:
        """What the next connection attempt uses."""
        profile = self._new_profile or self._profile
        new_password = self.store.get_meta(NEW_PASSWORD_KEY)
        password = None if profile == 3 else (new_password or self.password)
        client = self.station.for_connection() if profile == 3 else None
        trial = (
            "profile" if self._new_profile
            else "password" if password and password == new_password
            else "certificate" if client is not None and client.candidate
            else None
        )  # fmt: skip
        return Attempt(profile, password, client, trial)

    def connected(self, attempt: Attempt) -> None:
        """A connection with `attempt` is up: what was on trial is the station's now."""
        self._trial_failures = 0
        if attempt.trial == "profile" and self._new_profile == attempt.profile:
            self._profile, self._new_profile = attempt.profile, None
            log.info("security profile %d is active", self._profile)
        if int(self.store.get_meta(PROFILE_KEY) or 0) < attempt.profile:
            self.store.set_meta(PROFILE_KEY, str(attempt.profile))
        new_password = self.store.get_meta(NEW_PASSWORD_KEY)
        if new_password and attempt.password == new_password:
            self.store.set_meta(PASSWORD_KEY, new_password)
            self.store.set_meta(NEW_PASSWORD_KEY, "")
            log.info("the new password worked: it replaces the old one")
        self.station.connected(attempt.client)

    def failed(self, attempt: Attempt, refused: bool) -> str | None:
        """A connection with `attempt` failed; `refused`: the CSMS refused the login or the
        TLS handshake (not a network failure). Returns what was given up, if anything."""
        if attempt.trial is None:
            return None
        self._trial_failures += 1
        if not refused and self._trial_failures < MAX_TRIAL_FAILURES:
            return None
        self._trial_failures = 0
        if attempt.trial == "certificate":
            self.station.refused(attempt.client)
            return "the new station certificate"
        if attempt.trial == "profile":
            self._new_profile = None
            log.warning("security profile %d did not connect: back to %d", attempt.profile,
                        self._profile)  # fmt: skip
            return f"security profile {attempt.profile}"
        self.store.set_meta(NEW_PASSWORD_KEY, "")
        log.warning("the new password did not connect: back to the old one")
        return "the new password"
