"""OCPP 2.0.1 security (blocks A and M): messages translated to and from the version-neutral
security part (chargerd/security/, `rt.parts["security"]`).

- M03 GetInstalledCertificateIds, M04 DeleteCertificate, M05 InstallCertificate;
- A02/A03 the station certificate: TriggerMessage SignChargingStationCertificate (or the
  security part before the certificate expires) → SignCertificate, sent again after
  CertSigningWaitMinimum s (doubling, CertSigningRepeatTimes times) until CertificateSigned;
- A01 and A05 (SetVariables BasicAuthPassword, SetNetworkProfile, NetworkConfigurationPriority)
  are in network.py.

Certificate management over security profile 0/1 (no TLS) is answered as over TLS: Part 2
has no requirement refusing M03-M05 there, and A05's upgrade from profile 1 to 2 needs the
CSMS root installed over the profile-1 connection first. The risk (a man in the middle could
install its own root) is the one profile 1 carries anyway, written down in
docs/SECURITY.md; libocpp#857 refuses such installs by a setting of its own
(InternalCtrlr), not by a requirement of the specification.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..connection import RequestHandler
from ..ocpp_security import (
    reconnect_for_certificate,
    security_part,
    when_online,
)
from ..rpc import CallError, ConnectionLost
from .components import Value, Variable
from .host import info
from .network import NetworkSettings

log = logging.getLogger("chargerd.ocpp201")

ROOT_TYPES = (
    "CSMSRootCertificate",
    "ManufacturerRootCertificate",
    "V2GRootCertificate",
    "MORootCertificate",
)
# GetInstalledCertificateIds types: the roots, and the V2G chain of a (future) ISO 15118
# stack, which this station does not have
LISTED_TYPES = (*ROOT_TYPES, "V2GCertificateChain")
STATION_CERTIFICATE = "ChargingStationCertificate"
SIGN_TRIGGERS = {
    "SignChargingStationCertificate": STATION_CERTIFICATE,
    "SignV2GCertificate": "V2GCertificate",
}


class Security201:
    """Blocks A and M for one 2.0.1 adapter."""

    def __init__(self, adapter: Any) -> None:
        self.a = adapter  # Ocpp201Adapter (not imported: the adapter imports this module)
        self.network = NetworkSettings(adapter)
        self._csr: str | None = None  # the CSR waiting for its CertificateSigned
        self._signed = asyncio.Event()  # set by CertificateSigned (the resend loop stops)
        self._resending: asyncio.Task[None] | None = None
        # the device model asks this block for the SecurityCtrlr values it supplies
        others = adapter.dm.dynamic

        def dynamic(var: Variable, attribute: str) -> Value | None:
            if var.component.name == "SecurityCtrlr":
                return self.dynamic(var.name)
            return others(var, attribute)

        adapter.dm.dynamic = dynamic
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
            "CertificateSigned": self.certificate_signed,
            "TriggerMessage": self.trigger_message,
            **self.network.handlers(),
        }

    def attach(self) -> None:
        """Once the daemon's parts exist: renewals the security part wants go out as
        SignCertificate; the store's limit is CertificateEntries' maxLimit."""
        part = security_part(self.a)
        if part is None:
            return
        part.renew_wanted.append(self.renew)
        entries = self.a.dm.find("SecurityCtrlr", "CertificateEntries")
        part.certs.max_entries = int(entries.max_limit)

    def dynamic(self, name: str) -> int | None:
        part = security_part(self.a)
        if part is None:
            return None
        if name == "SecurityProfile":  # the active one (A05: read-only)
            return int(part.credentials.profile)
        if name == "CertificateEntries":
            return len(part.certs.installed(list(ROOT_TYPES)))
        return None

    # --- M03-M05 ---------------------------------------------------------------------------

    async def install_certificate(self, p: dict[str, Any]) -> dict[str, Any]:
        certs = self.part.certs
        status = await certs.install(p["certificateType"], p["certificate"])
        if status == "Accepted":
            self.part.events.record(
                "ReconfigurationOfSecurityParameters", f"{p['certificateType']} installed"
            )
            return {"status": status}
        log.warning("InstallCertificate %s: %s", status, certs.last_reason)
        reason = "InvalidCertificate" if status == "Rejected" else "Unspecified"
        return {"status": status, "statusInfo": info(reason, certs.last_reason or status)}

    async def get_installed_certificate_ids(self, p: dict[str, Any]) -> dict[str, Any]:
        wanted = p.get("certificateType") or list(LISTED_TYPES)
        chains = []
        for entry in self.part.certs.installed([t for t in wanted if t in LISTED_TYPES]):
            chain: dict[str, Any] = {
                "certificateType": entry.cert_type,
                "certificateHashData": entry.hash.to_wire(),
            }
            if entry.children:  # a V2GCertificateChain's sub-CAs
                chain["childCertificateHashData"] = [h.to_wire() for h in entry.children]
            chains.append(chain)
        if not chains:
            return {"status": "NotFound"}
        return {"status": "Accepted", "certificateHashDataChain": chains}

    async def delete_certificate(self, p: dict[str, Any]) -> dict[str, Any]:
        certs = self.part.certs
        status = certs.delete(p["certificateHashData"])
        if status == "Accepted":
            self.part.events.record("ReconfigurationOfSecurityParameters", "certificate deleted")
        elif status == "Failed":
            log.warning("DeleteCertificate Failed: %s", certs.last_reason)
            return {"status": status, "statusInfo": info("Unspecified", certs.last_reason or "")}
        return {"status": status}

    # --- A02/A03 ---------------------------------------------------------------------------

    async def trigger_message(self, p: dict[str, Any]) -> dict[str, Any]:
        """TriggerMessage: the certificate signing messages here, the others in triggers.py."""
        wanted = SIGN_TRIGGERS.get(p["requestedMessage"])
        if wanted is None:
            return await self.a.requests.handle("TriggerMessage", p)
        if wanted != STATION_CERTIFICATE:
            text = "no ISO 15118 stack: no V2G certificate"
            return {"status": "Rejected", "statusInfo": info("NotSupported", text)}
        self.a.spawn(self.sign_certificate("the CSMS asked (TriggerMessage)"))
        return {"status": "Accepted"}

    def renew(self) -> None:
        """The security part wants a new station certificate (it expires soon)."""
        self.a.spawn(self._renew())

    async def _renew(self) -> None:
        await when_online(self.a)
        await self.sign_certificate("the station certificate expires soon")

    def _value(self, name: str) -> Any:
        return self.a.dm.value("SecurityCtrlr", name)

    async def sign_certificate(self, why: str) -> None:
        """A new key pair and SignCertificate with its CSR (O = OrganizationName, CN = the
        station id); sent again while no CertificateSigned comes."""
        from ..security.worker import WorkerError

        if self._resending is not None:
            self._resending.cancel()  # a newer CSR replaces the one waiting
        try:
            self._csr = await self.part.new_csr(str(self._value("OrganizationName")))
        except WorkerError as exc:
            log.error("no SignCertificate: %s", exc)
            return
        self._signed.clear()
        log.info("SignCertificate: %s", why)
        if await self._send_csr():
            self._resending = asyncio.current_task()  # type: ignore[assignment]
            await self._resend_until_signed()

    async def _send_csr(self) -> bool:
        """SignCertificate with the pending CSR; whether the CSMS accepted it."""
        assert self._csr is not None
        payload = {"csr": self._csr, "certificateType": STATION_CERTIFICATE}
        try:
            answer = await self.a.outbox.call("SignCertificate", payload)
        except (CallError, TimeoutError, ConnectionLost) as exc:
            log.warning("SignCertificate failed: %s", exc or "no answer")
            return False
        if answer["status"] != "Accepted":
            log.warning("SignCertificate %s by the CSMS", answer["status"])
            return False
        return True

    async def _resend_until_signed(self) -> None:
        wait = float(self._value("CertSigningWaitMinimum"))  # seconds (libocpp#969 used ms)
        for _ in range(int(self._value("CertSigningRepeatTimes"))):
            try:
                async with asyncio.timeout(wait):
                    await self._signed.wait()
                return
            except TimeoutError:
                pass
            log.warning("no CertificateSigned within %g s: SignCertificate again", wait)
            if not await self._send_csr():
                return
            wait *= 2

    async def certificate_signed(self, p: dict[str, Any]) -> dict[str, Any]:
        chain = p["certificateChain"]
        kind = p.get("certificateType", STATION_CERTIFICATE)
        if kind != STATION_CERTIFICATE:
            reason = "no ISO 15118 stack: no V2G certificate was asked for"
        elif len(chain) > int(self._value("MaxCertificateChainSize")):
            reason = "the chain is longer than MaxCertificateChainSize"
        else:
            reason = await self.part.certificate_signed(chain)
        if reason is not None:
            log.warning("CertificateSigned Rejected: %s", reason)
            self.part.events.record("InvalidChargingStationCertificate", reason)
            return {"status": "Rejected", "statusInfo": info("InvalidCertificate", reason)}
        self._signed.set()
        self._csr = None
        reconnect_for_certificate(self.part)
        return {"status": "Accepted"}
