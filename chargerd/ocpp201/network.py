"""OCPP 2.0.1 A01 and A05: the Basic auth password and the network profiles, kept by the
security part's credentials (chargerd/security/credentials.py).

- A01 SetVariables SecurityCtrlr.BasicAuthPassword: checked (length, characters), never
  stored in the device model nor logged; the credentials reconnect with it and keep the old
  one until the new one has connected.
- B09/A05 SetNetworkProfile stores a slot (never one below the active security profile);
  SetVariables OCPPCommCtrlr.NetworkConfigurationPriority puts slots in order, and a first
  slot with a higher security profile raises it (the credentials fall back to the active
  profile when the new one does not connect). This station connects to csms.url of its
  YAML file only: a slot elsewhere (host, port or path) cannot come first.

SetVariables items for other variables go to requests.py as before, answered in order.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

from ..connection import RequestHandler
from .components import ACTUAL
from .host import info

log = logging.getLogger("chargerd.ocpp201")

NETWORK_PROFILE_KEY = "ocpp201.network_profile.{}"  # store meta, per configuration slot
PASSWORD = ("securityctrlr", "basicauthpassword")
PRIORITY = ("ocppcommctrlr", "networkconfigurationpriority")
OWN_SLOT = 0  # without a stored profile: the connection of the YAML file (csms.url)


def _target(item: dict[str, Any]) -> tuple[str, str] | None:
    """(component, variable) casefolded, for a plain variable (no EVSE, no instance)."""
    component, variable = item["component"], item["variable"]
    if "evse" in component or "instance" in component or "instance" in variable:
        return None
    if item.get("attributeType", ACTUAL) != ACTUAL:
        return None
    return str(component["name"]).casefold(), str(variable["name"]).casefold()


def _where(url: str) -> tuple[str, int | None, str]:
    """A CSMS URL without its scheme (ws:// and wss:// name the same endpoint)."""
    parts = urlsplit(url)
    return (parts.hostname or "", parts.port, parts.path.rstrip("/"))


class NetworkSettings:
    def __init__(self, adapter: Any) -> None:
        self.a = adapter  # Ocpp201Adapter

    def handlers(self) -> dict[str, RequestHandler]:
        return {"SetVariables": self.set_variables, "SetNetworkProfile": self.set_network_profile}

    @property
    def part(self) -> Any:
        return self.a.rt.parts["security"]

    # --- SetVariables ----------------------------------------------------------------------

    async def set_variables(self, p: dict[str, Any]) -> dict[str, Any]:
        items = p["setVariableData"]
        ours = {i for i, item in enumerate(items) if _target(item) in (PASSWORD, PRIORITY)}
        if not ours:
            return await self.a.requests.handle("SetVariables", p)
        results: dict[int, dict[str, Any]] = {}
        others = [i for i in range(len(items)) if i not in ours]
        if others:
            answer = await self.a.requests.handle(
                "SetVariables", {"setVariableData": [items[i] for i in others]}
            )
            results.update(zip(others, answer["setVariableResult"], strict=True))
        for i in sorted(ours):
            item = items[i]
            if _target(item) == PASSWORD:
                why = self._set_password(str(item["attributeValue"]))
            else:
                why = self._set_priority(str(item["attributeValue"]))
            result: dict[str, Any] = {
                "attributeStatus": "Rejected" if why else "Accepted",
                "attributeType": item.get("attributeType", ACTUAL),
                "component": item["component"],
                "variable": item["variable"],
            }
            if why:
                result["attributeStatusInfo"] = info("InvalidValue", why)
            results[i] = result
        return {"setVariableResult": [results[i] for i in range(len(items))]}

    def _set_password(self, password: str) -> str | None:
        """A01: why the password is refused, or None once the credentials have it."""
        from ..security.credentials import password_problem

        limit = int(self.a.dm.find("SecurityCtrlr", "BasicAuthPassword").max_limit)
        why = password_problem(password)
        if why is None and len(password) > limit:
            why = f"at most {limit} characters"
        if why is not None:
            log.info("SetVariables SecurityCtrlr.BasicAuthPassword rejected: %s", why)
            return why
        self.part.credentials.set_password(password)
        log.info("SecurityCtrlr.BasicAuthPassword set to *** by the CSMS")
        self.part.events.record("ReconfigurationOfSecurityParameters", "BasicAuthPassword set")
        return None

    def slot(self, n: int) -> dict[str, Any] | None:
        """The connection data stored for slot `n` (SetNetworkProfile), or None."""
        stored = self.a.store.get_meta(NETWORK_PROFILE_KEY.format(n))
        return json.loads(stored) if stored else None

    def _slot_profile(self, n: int) -> tuple[int, str] | None:
        data = self.slot(n)
        if data is not None:
            return int(data["securityProfile"]), str(data["ocppCsmsUrl"])
        if n == OWN_SLOT:
            return int(self.part.credentials.profile), self.a.config.csms.url
        return None

    def _set_priority(self, value: str) -> str | None:
        """A05: why the order of slots is refused, or None once it is in force."""
        try:
            order = [int(s) for s in value.split(",")]
        except ValueError:
            return "a comma-separated list of configuration slots wanted"
        credentials = self.part.credentials
        profiles = {}
        for n in order:
            found = self._slot_profile(n)
            if found is None:
                return f"no network profile in slot {n} (SetNetworkProfile first)"
            if found[0] < credentials.profile:
                return f"slot {n} has security profile {found[0]}, below the active one"
            profiles[n] = found
        first_profile, first_url = profiles[order[0]]
        if _where(first_url) != _where(self.a.config.csms.url):
            return f"this station connects to csms.url only, not to {first_url}"
        if first_profile > credentials.profile:
            why = credentials.upgrade_profile(first_profile)
            if why is not None:
                return why
        self.a.dm.put(self.a.dm.find("OCPPCommCtrlr", "NetworkConfigurationPriority"), value)
        log.info("OCPPCommCtrlr.NetworkConfigurationPriority set to %s by the CSMS", value)
        self.part.events.record(
            "ReconfigurationOfSecurityParameters", f"NetworkConfigurationPriority {value}"
        )
        return None

    # --- SetNetworkProfile -------------------------------------------------------------------

    async def set_network_profile(self, p: dict[str, Any]) -> dict[str, Any]:
        data, slot = p["connectionData"], p["configurationSlot"]
        active = self.part.credentials.profile
        if data["securityProfile"] < active:  # A05: never below the active profile
            text = f"security profile {data['securityProfile']} is below the active {active}"
            return {"status": "Rejected", "statusInfo": info("InvalidSecProfile", text)}
        self.a.store.set_meta(NETWORK_PROFILE_KEY.format(slot), json.dumps(data))
        log.info(
            "network profile for slot %d stored (%s, security profile %d); used once "
            "NetworkConfigurationPriority puts it first",
            slot,
            data["ocppCsmsUrl"],
            data["securityProfile"],
        )
        self.part.events.record(
            "ReconfigurationOfSecurityParameters", f"network profile stored in slot {slot}"
        )
        return {"status": "Accepted"}
