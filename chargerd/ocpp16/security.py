"""OCPP 1.6 security extension (security whitepaper, edition 3): its messages translated to
and from the version-neutral security part (chargerd/security/, `rt.parts["security"]`).

CSMS → station: InstallCertificate, GetInstalledCertificateIds, DeleteCertificate,
ExtendedTriggerMessage, CertificateSigned; ChangeConfiguration of the keys the credentials
keep (keys.CREDENTIALS: AuthorizationKey, SecurityProfile). Station → CSMS: SignCertificate
(asked for by ExtendedTriggerMessage SignChargePointCertificate, or by the security part
before the certificate expires). SecurityEventNotification is the security part's.

Certificate management over security profile 0/1 (no TLS) is answered as over TLS: the
whitepaper has no requirement refusing it, and the upgrade from profile 1 to 2 (A05 in
2.0.1 terms) needs the CSMS root installed over the profile-1 connection first. The risk
(a man in the middle could install its own root) is the one profile 1 carries anyway; it
is written down in docs/SECURITY.md. libocpp#857 refuses such installs by a setting of its
own, not by a requirement of the specification.
"""

from __future__ import annotations

import logging
from typing import Any

from ..connection import RequestHandler
from ..ocpp_security import (
    reconnect_for_certificate,
    security_part,
    when_online,
)
from ..rpc import CallError, ConnectionLost
from .triggers import TriggerHost, trigger_message

log = logging.getLogger("chargerd.ocpp16")

# 1.6 CertificateUseEnumType → the version-neutral store type
STORE_TYPES = {
    "CentralSystemRootCertificate": "CSMSRootCertificate",
    "ManufacturerRootCertificate": "ManufacturerRootCertificate",
}
WIRE_TYPES = {store: wire for wire, store in STORE_TYPES.items()}
# ExtendedTriggerMessage messages the base TriggerMessage (triggers.py) already sends
SHARED_TRIGGERS = {"BootNotification", "Heartbeat", "MeterValues", "StatusNotification"}
PASSWORD_BYTES = (16, 20)  # AuthorizationKey: 32-40 hex digits on the wire
MAX_PROFILE = 3


def authorization_key_password(hex_text: str) -> str:
    """The Basic auth password an AuthorizationKey stands for: its hex digits decoded (OCPP-J
    1.6 and the whitepaper: the header carries the decoded bytes, OCTT TC_085_CS); ValueError
    says why not, without quoting the value."""
    text = hex_text.strip()
    if not PASSWORD_BYTES[0] * 2 <= len(text) <= PASSWORD_BYTES[1] * 2:
        raise ValueError(f"must be {PASSWORD_BYTES[0] * 2}-{PASSWORD_BYTES[1] * 2} hex digits")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ValueError("must be hex digits (an even number of 0-9, a-f)") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # the link sends the password as UTF-8 text; other bytes could not be sent as given
        raise ValueError("the decoded password must be UTF-8 text") from None


class Security16:
    """The security extension's requests for one 1.6 adapter."""

    def __init__(self, adapter: Any) -> None:
        self.a = adapter  # Ocpp16Adapter (not imported: the adapter imports this module)
        adapter.when_parts_built(self.attach)

    @property
    def part(self) -> Any:
        """The daemon's security part (chargerd/security/part.py)."""
        return self.a.rt.parts["security"]

    def handlers(self) -> dict[str, RequestHandler]:
        return {
            "InstallCertificate": self.install_certificate,
            "GetInstalledCertificateIds": self.get_installed_certificate_ids,
            "DeleteCertificate": self.delete_certificate,
            "ExtendedTriggerMessage": self.extended_trigger_message,
            "CertificateSigned": self.certificate_signed,
        }

    def attach(self) -> None:
        """Once the daemon's parts exist (they are built after the adapter): renewals the
        security part wants go out as SignCertificate; the keys show the credentials."""
        part = security_part(self.a)
        if part is None:
            return
        part.renew_wanted.append(self.renew)
        part.certs.max_entries = int(self.a.keys["CertificateStoreMaxLength"])
        self.a.keys["SecurityProfile"] = part.credentials.profile

    # --- certificates (InstallCertificate, GetInstalledCertificateIds, DeleteCertificate) --

    async def install_certificate(self, p: dict[str, Any]) -> dict[str, Any]:
        certs = self.part.certs
        status = await certs.install(STORE_TYPES[p["certificateType"]], p["certificate"])
        if status == "Accepted":
            self.part.events.record(
                "ReconfigurationOfSecurityParameters", f"{p['certificateType']} installed"
            )
        else:
            log.warning("InstallCertificate %s: %s", status, certs.last_reason)
        return {"status": status}

    async def get_installed_certificate_ids(self, p: dict[str, Any]) -> dict[str, Any]:
        found = self.part.certs.installed([STORE_TYPES[p["certificateType"]]])
        if not found:
            return {"status": "NotFound"}
        return {"status": "Accepted", "certificateHashData": [c.hash.to_wire() for c in found]}

    async def delete_certificate(self, p: dict[str, Any]) -> dict[str, Any]:
        certs = self.part.certs
        status = certs.delete(p["certificateHashData"])
        if status == "Accepted":
            self.part.events.record("ReconfigurationOfSecurityParameters", "certificate deleted")
        elif status == "Failed":
            log.warning("DeleteCertificate Failed: %s", certs.last_reason)
        return {"status": status}

    # --- ExtendedTriggerMessage ----------------------------------------------------------

    async def extended_trigger_message(self, p: dict[str, Any]) -> dict[str, Any]:
        requested = p["requestedMessage"]
        if requested in SHARED_TRIGGERS:
            host: TriggerHost = self.a
            return trigger_message(host, p)
        connector = p.get("connectorId")
        if connector is not None and connector not in self.a.rt.station.connectors:
            return {"status": "Rejected"}
        if requested == "SignChargePointCertificate":
            self.a.spawn(self.sign_certificate("the CSMS asked (ExtendedTriggerMessage)"))
        elif requested == "FirmwareStatusNotification":  # the whitepaper's signed one
            self.a.outbox.post("SignedFirmwareStatusNotification", self._status_now("updates"))
        elif requested == "LogStatusNotification":
            self.a.outbox.post("LogStatusNotification", self._status_now("logs"))
        else:
            return {"status": "NotImplemented"}
        return {"status": "Accepted"}

    def _status_now(self, part_name: str) -> dict[str, Any]:
        """The status of the firmware update ("updates") or log upload ("logs") part now, with
        its requestId; Idle when nothing runs (chargerd/updates/)."""
        part = self.a.rt.parts.get(part_name)
        if part is None:
            return {"status": "Idle"}
        status, request_id = part.last_status()
        payload: dict[str, Any] = {"status": str(status)}
        if request_id is not None:
            payload["requestId"] = request_id
        return payload

    # --- the station's certificate (SignCertificate, CertificateSigned) --------------------

    def renew(self) -> None:
        """The security part wants a new station certificate (it expires soon)."""
        self.a.spawn(self._renew())

    async def _renew(self) -> None:
        await when_online(self.a)
        await self.sign_certificate("the station certificate expires soon")

    async def sign_certificate(self, why: str) -> None:
        """A new key pair and SignCertificate with its CSR (O = CpoName, CN = station id)."""
        from ..security.worker import WorkerError

        organization = str(self.a.keys["CpoName"]) or self.a.config.station.vendor
        try:
            csr = await self.part.new_csr(organization)
        except WorkerError as exc:
            log.error("no SignCertificate: %s", exc)
            return
        log.info("SignCertificate: %s", why)
        try:
            answer = await self.a.outbox.call("SignCertificate", {"csr": csr})
        except (CallError, TimeoutError, ConnectionLost) as exc:
            log.warning("SignCertificate failed: %s", exc or "no answer")
            return
        if answer["status"] != "Accepted":
            log.warning("SignCertificate %s by the CSMS", answer["status"])

    async def certificate_signed(self, p: dict[str, Any]) -> dict[str, Any]:
        chain = p["certificateChain"]
        if len(chain) > int(self.a.keys["CertificateSignedMaxChainSize"]):
            reason = "the chain is longer than CertificateSignedMaxChainSize"
        else:
            reason = await self.part.certificate_signed(chain)
        if reason is not None:
            log.warning("CertificateSigned Rejected: %s", reason)
            self.part.events.record("InvalidChargingStationCertificate", reason)
            return {"status": "Rejected"}
        reconnect_for_certificate(self.part)
        return {"status": "Accepted"}

    # --- keys the credentials keep (ChangeConfiguration) -------------------------------------

    def change_key(self, name: str, value: str) -> tuple[str, str | None]:
        """ChangeConfiguration of AuthorizationKey or SecurityProfile: (status, why when
        Rejected). Neither value is logged here: the caller logs the outcome."""
        credentials = self.part.credentials
        if name == "AuthorizationKey":
            try:
                password = authorization_key_password(value)
            except ValueError as exc:
                return "Rejected", str(exc)
            credentials.set_password(password)
            return "Accepted", None
        try:
            profile = int(value)
        except ValueError:
            return "Rejected", "must be 0, 1, 2 or 3"
        if not 0 <= profile <= MAX_PROFILE:
            return "Rejected", "must be 0, 1, 2 or 3"
        if profile < credentials.profile:
            return "Rejected", f"lower than the active security profile {credentials.profile}"
        if profile == credentials.profile:
            return "Accepted", None
        reason = credentials.upgrade_profile(profile)
        if reason is not None:
            return "Rejected", reason
        self.a.keys["SecurityProfile"] = profile
        return "Accepted", None
