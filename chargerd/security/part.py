"""The daemon's "security" part: credentials and certificates for the link, security
events, the renewal of the station certificate, and its lines in `chargerctl status`."""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.model import Decision
from . import worker
from .certs import CSMS_ROOT, CertificateStore
from .credentials import Attempt, Credentials
from .events import SecurityEvents
from .keys import StationCertificate

log = logging.getLogger("chargerd.security")

RENEWAL_CHECK_S = 3600  # the client certificate's expiry is looked at hourly while online
RENEWAL_REPEAT_S = 24 * 3600  # a renewal not answered with a certificate is asked for daily
OFFLINE_POLL_S = 5  # until the first look while online (the request needs the CSMS)
DAY_S = 86400
INVALID_MESSAGES_EVERY_S = 60.0


@dataclass(frozen=True)
class Plan:
    """How one connection attempt authenticates: TLS context and HTTP headers."""

    attempt: Attempt
    ssl: ssl.SSLContext | None
    headers: dict[str, str]


def basic_auth(station_id: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class SecurityPart:
    name = "security"

    def __init__(
        self,
        config: Any,  # chargerd.config.Config
        store: Any,  # chargerd.store.Store
        wake: Callable[[], None] = lambda: None,  # the outbox: a security event is queued
        online: Callable[[], bool] = lambda: True,  # the CSMS can be asked (boot accepted)
    ):
        self.config = config
        self.online = online
        self._renewal_asked_at = -RENEWAL_REPEAT_S  # time.monotonic() of the last request
        csms = config.csms
        self.station_id: str = config.station.id
        self.renew_days: float = getattr(getattr(config, "security", None), "renew_days", 30)
        self.station = StationCertificate(config.storage_dir, csms.client_cert, csms.client_key)
        self.certs = CertificateStore(store.db, config.storage_dir, csms.ca_file, self.station)
        self.events = SecurityEvents(store, config.storage_dir, csms.ocpp_version, wake)
        self.certs.on_full = lambda why: self.events.record("MemoryExhaustion", why)
        self.credentials = Credentials(
            store, csms.security_profile, csms.password, self.station,
            has_csms_root=lambda: bool(self.certs.roots(CSMS_ROOT)),
        )  # fmt: skip
        # SEC-B's adapters register here: each sends a SignCertificate for a new key pair
        self.renew_wanted: list[Callable[[], None]] = []
        self._episode: set[str] = set()  # TLS events recorded since the last connection
        self._last_invalid = -INVALID_MESSAGES_EVERY_S
        self._invalid_suppressed = 0
        self.events.record("StartupOfTheDevice", "chargerd started")

    # --- the Part protocol --------------------------------------------------------------

    async def run(self) -> None:
        while True:
            if not self.online():
                await asyncio.sleep(OFFLINE_POLL_S)
                continue
            if time.monotonic() - self._renewal_asked_at >= RENEWAL_REPEAT_S and (
                self.check_renewal(time.time())
            ):
                self._renewal_asked_at = time.monotonic()
            await asyncio.sleep(RENEWAL_CHECK_S)

    def see(self, decision: Decision) -> None:
        pass  # the core's decisions carry nothing security-relevant

    def status(self, into: dict[str, Any]) -> None:
        chain = self.station.chain()
        client = None
        if chain:
            client = {
                "subject": chain[0].subject,
                "not_after": chain[0].not_after.isoformat().replace("+00:00", "Z"),
            }
        into["security"] = {"profile": self.credentials.profile, "client_cert": client}

    # --- what other parts of the daemon report -------------------------------------------

    def tamper(self, where: str = "the enclosure") -> None:
        self.events.record("TamperDetectionActivated", f"tamper switch of {where}")

    def invalid_message(self, info: str) -> None:
        """A CALL from the CSMS that breaks OCPP-J or the schema; at most one event a
        minute, so a misbehaving CSMS cannot flood the queue and the log."""
        now = time.monotonic()
        if now - self._last_invalid < INVALID_MESSAGES_EVERY_S:
            self._invalid_suppressed += 1
            return
        more = f" (+{self._invalid_suppressed} more)" if self._invalid_suppressed else ""
        self._last_invalid, self._invalid_suppressed = now, 0
        self.events.record("InvalidMessages", info[: 255 - len(more)] + more)

    def check_renewal(self, now: float) -> bool:
        """Ask for a new station certificate when the current one expires within
        `security.renew_days` (A03). True when asked."""
        chain = self.station.chain()
        if not chain:
            return False
        left_s = chain[0].not_after.timestamp() - now
        if left_s > self.renew_days * DAY_S:
            return False
        log.warning("the station certificate expires in %.0f days: asking for a new one",
                    left_s / DAY_S)  # fmt: skip
        for hook in self.renew_wanted:
            hook()
        return True

    # --- the station's certificate, through the worker (for both versions' messages) -----

    async def new_csr(self, organization: str) -> str:
        """A new pending key pair and its PEM CSR (CN = the station id, O = `organization`).
        WorkerError when the worker fails (logged by the caller: no SignCertificate)."""
        csr: str = await worker.call(
            "new_csr", storage_dir=str(self.config.storage_dir), common_name=self.station_id,
            organization=organization,
        )  # fmt: skip
        return csr

    async def certificate_signed(self, chain_pem: str) -> str | None:
        """Check a CertificateSigned chain and keep it for the next connection: None when
        accepted, else why not (also when the worker could not check it)."""
        roots = [c.pem for c in self.certs.roots(CSMS_ROOT)]
        try:
            reason: str | None = await worker.call(
                "certificate_signed", storage_dir=str(self.config.storage_dir),
                chain_pem=chain_pem, common_name=self.station_id, roots_pem=roots,
            )  # fmt: skip
        except worker.WorkerError as exc:
            log.error("CertificateSigned could not be checked: %s", exc)
            return f"the certificate could not be checked ({exc})"
        return reason

    # --- the link's side (chargerd.link.LinkSecurity) ------------------------------------

    def plan(self, url: str) -> Plan:
        """The TLS context and headers of the next attempt (a new context each time, so an
        installed root or a new certificate applies at once)."""
        from . import tls

        attempt = self.credentials.attempt()
        headers = basic_auth(self.station_id, attempt.password) if attempt.password else {}
        context = None
        if attempt.profile >= 2:
            if not url.startswith("wss://"):
                raise tls.NoTrustedRoot(
                    f"security profile {attempt.profile} needs a wss:// URL in csms.url"
                )
            client = attempt.client if attempt.profile == 3 else None
            if attempt.profile == 3 and client is None:
                raise tls.NoTrustedRoot("security profile 3 needs a client certificate")
            context = tls.client_context(
                self.certs.roots_pem(CSMS_ROOT),
                client.cert if client else None,
                client.key if client else None,
            )
        elif url.startswith("wss://"):  # profile 1 over TLS: as before, csms.ca_file or the OS
            context = ssl.create_default_context(cafile=self.config.csms.ca_file)
        return Plan(attempt, context, headers)

    def connected(self, plan: Plan) -> None:
        self._episode.clear()
        self.credentials.connected(plan.attempt)

    def failed(self, plan: Plan | None, exc: BaseException) -> None:
        """A connection attempt failed: a TLS problem is a security event (once per
        episode, not at every retry); a refused trial value is dropped."""
        from websockets.exceptions import InvalidStatus

        from .tls import security_event_of

        kind = security_event_of(exc)
        if kind is not None and kind not in self._episode:
            self._episode.add(kind)
            self.events.record(kind, _tech_info(exc))
        if plan is None:
            return
        # the CSMS said no (a TLS alert, e.g. to a client certificate it does not accept, or
        # HTTP 401/403), as opposed to a network that did not answer
        refused = isinstance(exc, ssl.SSLError) or (
            isinstance(exc, InvalidStatus) and exc.response.status_code in (401, 403)
        )
        given_up = self.credentials.failed(plan.attempt, refused)
        if given_up:
            self.events.record(
                "ReconfigurationOfSecurityParameters", f"{given_up} did not connect: reverted"
            )


def _tech_info(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"server certificate: {getattr(exc, 'verify_message', None) or exc}"
    return f"TLS handshake: {getattr(exc, 'reason', None) or exc}"
