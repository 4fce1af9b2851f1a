"""The station's own key pair and certificate: CSR, the signed certificate, the swap.

Files in `<storage.dir>/certs/` (keys created 0600, never logged):
- `pending.key` — made with a CSR, waiting for CertificateSigned;
- `next.pem` + `next.key` — a signed certificate accepted but not yet used: the next
  connection tries it, and it becomes the current one once it has connected;
- `station.pem` + `station.key` — the current client certificate (leaf first, then sub-CAs).
Without `station.pem` the maker's `csms.client_cert` / `csms.client_key` are used.

`new_csr` and `certificate_signed` use `cryptography` and run in the security worker
(operations.py); the daemon reads the chain with certificate.py.
"""

from __future__ import annotations

import logging
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .certificate import Certificate, read_pem
from .chain import chain_problem, common_name, load_chain

log = logging.getLogger("chargerd.security")

PENDING_KEY = "pending.key"
NEXT = ("next.pem", "next.key")
CURRENT = ("station.pem", "station.key")


def certs_dir(storage_dir: str | Path) -> Path:
    path = Path(storage_dir) / "certs"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read, created 0600 (never chmod'ed after: the key
    would be readable for a moment), replacing `path` atomically."""
    temp = path.with_name(path.name + ".new")
    temp.unlink(missing_ok=True)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)


def write_public(path: Path, data: bytes) -> None:
    temp = path.with_name(path.name + ".new")
    temp.write_bytes(data)
    os.replace(temp, path)


def new_csr(
    storage_dir: str | Path,
    common_name: str,
    organization: str,
    purpose: str = "ChargingStationCertificate",
) -> str:
    """A new key pair (EC P-256) kept as the pending key, and the PEM CSR for it (CN = the
    station id, O = the CPO's name). `purpose` is noted in the log only: the V2G certificate
    of a future ISO 15118 stack would take the same path."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private(certs_dir(storage_dir) / PENDING_KEY, pem_key)
    names = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        names.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(names))
        .sign(key, hashes.SHA256())
    )
    log.info("new key pair and CSR for the %s (CN=%s)", purpose, common_name)
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _load_key(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def _same_key(cert: Any, key: Any) -> bool:
    from cryptography.hazmat.primitives import serialization

    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return cert.public_key().public_bytes(der, spki) == key.public_key().public_bytes(der, spki)


def key_matches(cert_file: str | Path, key_file: str | Path) -> bool:
    """Whether the private key in `key_file` belongs to the first certificate of
    `cert_file`, as OpenSSL checks it when a TLS connection loads them (the `ssl` module:
    no `cryptography` in the daemon). ValueError: the key cannot be read (or is
    encrypted: the daemon has no passphrase to give)."""

    def no_passphrase() -> str:
        raise ValueError("the key is encrypted; allowed: an unencrypted PEM key")

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_cert_chain(str(cert_file), str(key_file), password=no_passphrase)
    except ssl.SSLError as exc:
        # a key of the certificate's type that is not its key; a key of another type
        # (RSA for an EC certificate) makes OpenSSL drop the certificate instead
        if exc.reason in ("KEY_VALUES_MISMATCH", "NO_CERTIFICATE_ASSIGNED"):
            return False
        raise ValueError(f"unreadable ({exc.reason or exc})") from None
    return True


def certificate_signed(
    storage_dir: str | Path,
    chain_pem: str,
    common_name_wanted: str,
    roots: list[Any],
    now: float | None = None,
) -> str | None:
    """Take a CertificateSigned chain (leaf first): None when accepted — it parses, the
    signatures and dates hold (up to one of `roots` when given), the leaf's key is the
    pending key and its CN is the station id; it is then used from the next connection.
    Otherwise the reason, and nothing changes."""
    import time

    now = time.time() if now is None else now
    directory = certs_dir(storage_dir)
    pending = directory / PENDING_KEY
    if not pending.exists():
        return "no certificate signing request is pending"
    try:
        chain = load_chain(chain_pem)
    except ValueError as exc:
        return f"the certificate chain does not parse ({exc})"
    problem = chain_problem(chain, roots, now)
    if problem:
        return problem
    try:
        key = _load_key(pending)
    except (ValueError, OSError) as exc:
        return f"the pending key cannot be read ({exc})"
    if not _same_key(chain[0], key):
        return "the certificate is not for the key of the last CSR"
    cn = common_name(chain[0])
    if cn != common_name_wanted:
        return f"the certificate's CN {cn!r} is not the station id {common_name_wanted!r}"
    from cryptography.hazmat.primitives.serialization import Encoding

    write_public(directory / NEXT[0], b"".join(c.public_bytes(Encoding.PEM) for c in chain))
    os.replace(pending, directory / NEXT[1])  # still 0600: made so by new_csr
    log.info("new station certificate accepted; used from the next connection")
    return None


@dataclass(frozen=True)
class ClientFiles:
    cert: Path
    key: Path
    candidate: bool = False  # a newly signed certificate not yet known to work


class StationCertificate:
    """Which client certificate a TLS connection presents, and the swap to a new one."""

    def __init__(
        self, storage_dir: str | Path, yaml_cert: str | None = None, yaml_key: str | None = None
    ):
        self.dir = certs_dir(storage_dir)
        self.yaml = ClientFiles(Path(yaml_cert), Path(yaml_key)) if yaml_cert and yaml_key else None

    def current(self) -> ClientFiles | None:
        cert, key = (self.dir / name for name in CURRENT)
        if cert.exists() and key.exists():
            return ClientFiles(cert, key)
        return self.yaml

    def for_connection(self) -> ClientFiles | None:
        """The new certificate while it waits for its first connection, else the current."""
        cert, key = (self.dir / name for name in NEXT)
        if cert.exists() and key.exists():
            return ClientFiles(cert, key, candidate=True)
        return self.current()

    def connected(self, used: ClientFiles | None) -> None:
        """A connection with `used` worked: a new certificate becomes the current one."""
        if used is None or not used.candidate:
            return
        current = [self.dir / name for name in CURRENT]
        os.replace(used.key, current[1])
        os.replace(used.cert, current[0])
        log.info("the new station certificate connected: it is the current one now")

    def refused(self, used: ClientFiles | None) -> bool:
        """A TLS connection with `used` failed; a new certificate is dropped (the old one is
        used again). True when it was a new one."""
        if used is None or not used.candidate:
            return False
        used.cert.unlink(missing_ok=True)
        used.key.unlink(missing_ok=True)
        log.warning("the new station certificate did not connect: back to the previous one")
        return True

    def chain(self) -> list[Certificate]:
        """The current certificate chain (leaf first); [] when there is none."""
        files = self.current()
        if files is None or not files.cert.exists():
            return []
        try:
            return read_pem(files.cert.read_text())
        except (ValueError, OSError):
            return []
