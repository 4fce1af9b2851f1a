"""The certificate store: root certificates the CSMS installs, beside the maker's
`csms.ca_file` and the station's own certificate, each with its OCPP hash data.

Files live in `<storage.dir>/certs/`, their index in the `certificates` table of the
daemon's store. `csms.ca_file` counts as installed CSMS roots: listed, and deletable while
another CSMS root remains (the file is left alone; the deletion is remembered in
`certificates_hidden`). The station's own certificate (and its sub-CAs) is listed as
`ChargingStationCertificate` and can never be deleted, nor can the last CSMS root: without
it the station could not connect over TLS again.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .chain import describe, issued_by, load_chain, root_problem
from .hashdata import HashData, hash_data
from .keys import StationCertificate, certs_dir

log = logging.getLogger("chargerd.security")

CSMS_ROOT = "CSMSRootCertificate"
ROOT_TYPES = (CSMS_ROOT, "ManufacturerRootCertificate", "V2GRootCertificate", "MORootCertificate")
OWN = "ChargingStationCertificate"  # the station's client certificate, listed, not deletable
DEFAULT_MAX_ENTRIES = 20  # CertificateStoreMaxLength (1.6) / CertificateEntries (2.0.1)
MIN_RSA_BITS = 2048
MIN_EC_BITS = 224

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
    cert: Any = field(default=None, compare=False, repr=False)  # the x509.Certificate


def fingerprint(cert: Any) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding

    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def key_too_weak(cert: Any) -> str | None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"an RSA key of {key.key_size} bits (at least {MIN_RSA_BITS} wanted)"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < MIN_EC_BITS:
        return f"an EC key of {key.curve.key_size} bits (at least {MIN_EC_BITS} wanted)"
    return None


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

    def roots(self, cert_type: str) -> list[Any]:
        """The x509 root certificates of `cert_type` (TLS trust, firmware signatures)."""
        return [c.cert for c in self.installed([cert_type])]

    def roots_pem(self, cert_type: str = CSMS_ROOT) -> str:
        from cryptography.hazmat.primitives.serialization import Encoding

        return "".join(c.public_bytes(Encoding.PEM).decode() for c in self.roots(cert_type))

    def _entry(
        self, cert: Any, cert_type: str, path: Path, source: str, issuer: Any = None,
        children: tuple[HashData, ...] = (),
    ) -> InstalledCertificate:  # fmt: skip
        return InstalledCertificate(
            cert_type=cert_type,
            hash=hash_data(cert, issuer),
            subject=describe(cert),
            not_after=cert.not_valid_after_utc,
            path=path,
            source=source,
            fingerprint=fingerprint(cert),
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
                cert = load_chain(Path(path).read_text())[0]
            except (OSError, ValueError) as exc:
                log.error("installed certificate %s cannot be read: %s", path, exc)
                continue
            found.append(self._entry(cert, cert_type, Path(path), "installed"))
        return found

    def _config_roots(self) -> list[InstalledCertificate]:
        if not self.ca_file:
            return []
        try:
            certs = load_chain(Path(self.ca_file).read_text())
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
            fp = fingerprint(cert)
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

    def _issuer_of(self, cert: Any) -> Any:
        """The root that signed `cert`; the certificate itself when none is installed (a
        self-signed one is its own issuer)."""
        for entry in self._installed_roots() + self._config_roots():
            if issued_by(cert, entry.cert):
                return entry.cert
        return None

    # --- changing -----------------------------------------------------------------------

    def install(self, cert_type: str, pem: str, now: float | None = None) -> str:
        """InstallCertificate: "Accepted", "Rejected" (not a valid, unexpired root of a
        known type, or the store is full) or "Failed" (it could not be stored)."""
        now = time.time() if now is None else now
        self.last_reason = None
        reason = self._install_problem(cert_type, pem, now)
        if isinstance(reason, str):
            self.last_reason = reason
            log.warning("certificate not installed as %s: %s", cert_type, reason)
            return "Rejected"
        cert = reason
        fp = fingerprint(cert)
        known = self.db.execute(
            "SELECT 1 FROM certificates WHERE fingerprint=? AND cert_type=?", (fp, cert_type)
        ).fetchone()
        if known:
            return "Accepted"  # installed again: nothing changes
        if len(self._installed_roots()) + len(self._config_roots()) >= self.max_entries:
            self.last_reason = f"the certificate store is full ({self.max_entries} entries)"
            log.warning("certificate not installed as %s: %s", cert_type, self.last_reason)
            return "Rejected"
        path = self.dir / f"{cert_type}-{fp[:16]}.pem"
        from cryptography.hazmat.primitives.serialization import Encoding

        try:
            path.write_bytes(cert.public_bytes(Encoding.PEM))
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
        log.info("installed %s %s", cert_type, describe(cert))
        return "Accepted"

    def _install_problem(self, cert_type: str, pem: str, now: float) -> Any:
        """The certificate to install, or why it cannot be (a str)."""
        if cert_type not in ROOT_TYPES:
            return f"{cert_type!r} is not a root certificate type ({', '.join(ROOT_TYPES)})"
        try:
            certs = load_chain(pem)
        except ValueError as exc:
            return f"the certificate does not parse ({exc})"
        if len(certs) != 1:
            return f"{len(certs)} certificates given; a root certificate comes alone"
        cert = certs[0]
        return root_problem(cert, now) or key_too_weak(cert) or cert

    def delete(self, wanted: dict[str, Any]) -> str:
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
