"""`security:` how the station looks after its own certificate."""

from __future__ import annotations

from dataclasses import dataclass

from .schema import Key, dataclass_section
from .values import integer_in


@dataclass(frozen=True)
class SecurityConfig:
    # days before the station (client) certificate expires that the station asks the CSMS
    # for a new one with SignCertificate (OCPP 2.0.1 A03; the 1.6 security whitepaper)
    renew_days: int = 30


KEYS: dict[str, Key] = {
    "renew_days": Key(integer_in(1, 3650)),
}

SECTION = dataclass_section("security", KEYS, SecurityConfig)
