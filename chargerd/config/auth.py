"""`auth:` how drivers are authorized: free charging for private and workplace chargers."""

from __future__ import annotations

from dataclasses import dataclass

from .schema import Key, dataclass_section
from .values import boolean, text


@dataclass(frozen=True)
class AuthConfig:
    # true: plugging in starts charging at once, no card or CSMS authorization; the
    # transactions are still reported (OCPP 1.6 with `id_tag`, 2.0.1 with an idToken of
    # type NoAuthorization, as AuthCtrlr.Enabled false does)
    free: bool = False
    id_tag: str = "FREE"  # OCPP 1.6 idTag: CiString20


KEYS: dict[str, Key] = {
    "free": Key(boolean),
    "id_tag": Key(text(20)),
}

SECTION = dataclass_section("auth", KEYS, AuthConfig)
