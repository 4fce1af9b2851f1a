"""The certificate store: root certificates the CSMS installs, beside the maker's
`csms.ca_file` and the station's own certificate, each with its OCPP hash data.

Files live in `<storage.dir>/certs/`, their index in the `certificates` table of the
daemon's store. `csms.ca_file` counts as installed CSMS roots: listed, and deletable while
another CSMS root remains (the file is left alone; the deletion is remembered in
`certificates_hidden`). The station's own certificate (and its sub-CAs) is listed as
`ChargingStationCertificate` and can never be deleted, nor can the last CSMS root: without
it the station could not connect over TLS again.

Reading (listing, the TLS trust of each connection attempt) uses certificate.py, the
standard library only; the checks before an install run in the security worker.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from . import worker
from .certificate import Certificate, read_pem
from .hashdata import HashData, hash_data
from .keys import StationCertificate, certs_dir

log = logging.getLogger("chargerd.security")

CSMS_ROOT = "CSMSRootCertificate"
ROOT_TYPES = (CSMS_ROOT, "ManufacturerRootCertificate", "V2GRootCertificate", "MORootCertificate")
OWN = "ChargingStationCertificate"  # the station's client certificate, listed, not deletable
DEFAULT_MAX_ENTRIES = 20  # CertificateStoreMaxLength (1.6) / CertificateEntries (2.0.1)

SCHEMA = """
CREATE TABLE IF NOT EXISTS certificates (
    fingerprint TEXT NOT NULL,
    cert_type TEXT NOT NULL,
    path TEXT NOT NULL,
    installed_at REAL NOT NULL,
    PRIMARY KEY (fingerprint, cert_type)
);
CREATE TABLE IF NOT EXISTS certificates_hidden (fingerprint TEXT PRIMARY KEY);
"""


@dataclass(frozen=True)
class InstalledCertificate:
    cert_type: str
    hash: HashData
    subject: str
    not_after: datetime
    path: Path
    source: str  # "installed" (by the CSMS), "config" (csms.ca_file), "station" (own)
    fingerprint: str  # SHA-256 of the DER, lowercase hex
    children: tuple[HashData, ...] = field(default=())  # sub-CAs of a chain, leaf's first
    cert: Certificate | None = field(default=None, compare=False, repr=False)


class CertificateStore:
    """Root certificates by type, with the limits and delete rules OCPP sets."""

    def __init__(
        self,
        db: sqlite3.Connection,
        storage_dir: str | Path,
        ca_file: str | None = None,
        station: StationCertificate | None = None,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ):
        self.db = db
        self.dir = certs_dir(storage_dir)
        self.ca_file = ca_file
        self.station = station or StationCertificate(storage_dir)
        self.max_entries = max_entries
        self.last_reason: str | None = None  # why the last install/delete was not Accepted
        # told when a certificate cannot be written for lack of space (MemoryExhaustion)
        self.on_full: Callable[[str], None] | None = None
        db.executescript(SCHEMA)

    # --- reading ------------------------------------------------------------------------

    def installed(self, types: list[str] | None = None) -> list[InstalledCertificate]:
        """What the store holds, optionally only of `types` (roots by type; the station's
        own certificate as "ChargingStationCertificate")."""
        found = self._installed_roots() + self._config_roots() + self._own()
        return [c for c in found if types is None or c.cert_type in types]

    def roots(self, cert_type: str) -> list[Certificate]:
        """The root certificates of `cert_type` (TLS trust, firmware signatures)."""
        return [c.cert for c in self.installed([cert_type]) if c.cert is not None]

    def roots_pem(self, cert_type: str = CSMS_ROOT) -> str:
        """The roots of `cert_type` as one PEM text (an SSLContext's cadata, the worker)."""
        return "".join(c.pem for c in self.roots(cert_type))

    def _entry(
        self, cert: Certificate, cert_type: str, path: Path, source: str,
        issuer: Certificate | None = None, children: tuple[HashData, ...] = (),
    ) -> InstalledCertificate:  # fmt: skip
        return InstalledCertificate(
            cert_type=cert_type,
            hash=hash_data(cert, issuer),
            subject=cert.subject,
            not_after=cert.not_after,
            path=path,
            source=source,
            fingerprint=cert.fingerprint,
            children=children,
            cert=cert,
        )

    def _installed_roots(self) -> list[InstalledCertificate]:
        found = []
        rows = self.db.execute(
            "SELECT cert_type, path FROM certificates ORDER BY installed_at, rowid"
        ).fetchall()
        for cert_type, path in rows:
            try:
                cert = read_pem(Path(path).read_text())[0]
            except (OSError, ValueError) as exc:
                log.error("installed certificate %s cannot be read: %s", path, exc)
                continue
            found.append(self._entry(cert, cert_type, Path(path), "installed"))
        return found

    def _config_roots(self) -> list[InstalledCertificate]:
        if not self.ca_file:
            return []
        try:
            certs = read_pem(Path(self.ca_file).read_text())
        except (OSError, ValueError) as exc:
            log.error("csms.ca_file %s cannot be read: %s", self.ca_file, exc)
            return []
        hidden = {row[0] for row in self.db.execute("SELECT fingerprint FROM certificates_hidden")}
        installed = {
            row[0]
            for row in self.db.execute(
                "SELECT fingerprint FROM certificates WHERE cert_type=?", (CSMS_ROOT,)
            )
        }
        entries = []
        for cert in certs:
            fp = cert.fingerprint
            if fp not in hidden and fp not in installed:
                entries.append(self._entry(cert, CSMS_ROOT, Path(self.ca_file), "config"))
        return entries

    def _own(self) -> list[InstalledCertificate]:
        chain = self.station.chain()
        files = self.station.current()
        if not chain or files is None:
            return []
        parents = [*chain[1:], None]
        children = tuple(hash_data(c, p or self._issuer_of(c)) for c, p in
                         zip(chain[1:], parents[1:], strict=True))  # fmt: skip
        issuer = chain[1] if len(chain) > 1 else self._issuer_of(chain[0])
        return [self._entry(chain[0], OWN, files.cert, "station", issuer, children)]

    def _issuer_of(self, cert: Certificate) -> Certificate | None:
        """The root named as `cert`'s issuer (the worker checked the signatures when the
        chain was accepted); None: the certificate itself (a self-signed one is its own
        issuer) when no such root is installed."""
        for entry in self._installed_roots() + self._config_roots():
            if entry.cert is not None and entry.cert.named_issuer_of(cert):
                return entry.cert
        return None

    # --- changing -----------------------------------------------------------------------

    async def install(self, cert_type: str, pem: str, now: float | None = None) -> str:
        """InstallCertificate: "Accepted", "Rejected" (not a valid, unexpired root of a
        known type, or the store is full) or "Failed" (it could not be checked or stored)."""
        now = time.time() if now is None else now
        self.last_reason = None
        found = self._readable_root(cert_type, pem)
        if isinstance(found, str):
            return self._refused(cert_type, found)
        try:  # the self-signature, CA flag, dates and key size: `cryptography`, in the worker
            problem = await worker.call("install_problem", pem=found.pem, now=now)
        except worker.WorkerError as exc:
            self.last_reason = f"the certificate could not be checked: {exc}"
            log.error("certificate not installed as %s: %s", cert_type, self.last_reason)
            return "Failed"
        if problem:
            return self._refused(cert_type, problem)
        return self._store(cert_type, found, now)

    def _refused(self, cert_type: str, reason: str) -> str:
        self.last_reason = reason
        log.warning("certificate not installed as %s: %s", cert_type, reason)
        return "Rejected"

    def _readable_root(self, cert_type: str, pem: str) -> Certificate | str:
        """The one certificate of `pem`, or why it is no candidate for a root (a str)."""
        if cert_type not in ROOT_TYPES:
            return f"{cert_type!r} is not a root certificate type ({', '.join(ROOT_TYPES)})"
        try:
            certs = read_pem(pem)
        except ValueError as exc:
            return f"the certificate does not parse ({exc})"
        if len(certs) != 1:
            return f"{len(certs)} certificates given; a root certificate comes alone"
        return certs[0]

    def _store(self, cert_type: str, cert: Certificate, now: float) -> str:
        fp = cert.fingerprint
        known = self.db.execute(
            "SELECT 1 FROM certificates WHERE fingerprint=? AND cert_type=?", (fp, cert_type)
        ).fetchone()
        if known:
            return "Accepted"  # installed again: nothing changes
        if len(self._installed_roots()) + len(self._config_roots()) >= self.max_entries:
            full = f"the certificate store is full ({self.max_entries} entries)"
            return self._refused(cert_type, full)
        path = self.dir / f"{cert_type}-{fp[:16]}.pem"
        try:
            path.write_text(cert.pem)
            with self.db:  # BEGIN ... COMMIT on the store's autocommit connection
                self.db.execute("BEGIN IMMEDIATE")
                self.db.execute(
                    "INSERT INTO certificates (fingerprint, cert_type, path, installed_at) "
                    "VALUES (?, ?, ?, ?)",
                    (fp, cert_type, str(path), now),
                )
                self.db.execute("DELETE FROM certificates_hidden WHERE fingerprint=?", (fp,))
        except (OSError, sqlite3.Error) as exc:
            self.last_reason = f"cannot store the certificate: {exc}"
            log.error("%s", self.last_reason)
            path.unlink(missing_ok=True)
            if "full" in str(exc).lower() and self.on_full is not None:
                self.on_full(self.last_reason)
            return "Failed"
        log.info("installed %s %s", cert_type, cert.subject)
        return "Accepted"

    def delete(self, wanted: dict[str, object]) -> str:
        """DeleteCertificate by hash data: "Accepted", "NotFound", or "Failed" for the
        station's own certificate (and its sub-CAs) and for the last CSMS root."""
        self.last_reason = None
        everything = self.installed()
        matches = [c for c in everything if c.hash.matches(wanted)]
        own_children = any(h.matches(wanted) for c in everything for h in c.children)
        if not matches and not own_children:
            return "NotFound"
        if own_children or any(c.cert_type == OWN for c in matches):
            self.last_reason = "the station's own certificate cannot be deleted"
            return "Failed"
        csms_roots = [c for c in everything if c.cert_type == CSMS_ROOT]
        if any(c.cert_type == CSMS_ROOT for c in matches) and len(csms_roots) <= len(
            [c for c in matches if c.cert_type == CSMS_ROOT]
        ):
            self.last_reason = "the last CSMS root certificate cannot be deleted"
            return "Failed"
        try:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                for c in matches:
                    if c.source == "config":
                        self.db.execute(
                            "INSERT OR IGNORE INTO certificates_hidden VALUES (?)",
                            (c.fingerprint,),
                        )
                    else:
                        self.db.execute(
                            "DELETE FROM certificates WHERE fingerprint=? AND cert_type=?",
                            (c.fingerprint, c.cert_type),
                        )
        except sqlite3.Error as exc:
            self.last_reason = f"cannot delete: {exc}"
            return "Failed"
        for c in matches:
            if c.source == "installed":
                c.path.unlink(missing_ok=True)
            log.info("deleted %s %s", c.cert_type, c.subject)
        return "Accepted"
