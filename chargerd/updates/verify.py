"""Is a firmware image signed by its maker? (OCPP secure firmware update.)

Before the download: the signing certificate (PEM, possibly followed by intermediates) is
in its validity period and chains to a trusted maker root. After the download: SHA-256 over
the file, in chunks, and the base64 signature checked with the certificate's public key
(RSA PKCS#1 v1.5 or ECDSA). Each check returns None when it holds, else a reason fit for a
security event's techInfo.

The daemon calls `certificate_check` and `image_check`: they run the checks below, which
need `cryptography`, in the security worker (chargerd/security/worker.py), so that library
never lands in the daemon's memory; a worker that fails or times out is a failed check.
"""

from __future__ import annotations

import base64
import binascii
import logging
from pathlib import Path
from typing import Any

from ..security.chain import dates_problem, describe, issued_by, load_chain

log = logging.getLogger("chargerd.updates")

CHUNK = 1 << 20
# a maximal image (firmware.max_size_mb) is hashed by the worker on a slow board
SIGNATURE_TIMEOUT_S = 300.0


async def certificate_check(signing_pem: str, trust_anchor: Path | None, security: Any,
                            now: float) -> str | None:  # fmt: skip
    """certificate_problem against the trusted maker roots, in the security worker."""
    from ..security.worker import WorkerError, call

    roots = trusted_roots(trust_anchor, security)
    if not roots:
        return "no trusted manufacturer root certificate (firmware.trust_anchor or installed)"
    try:
        problem: str | None = await call("firmware_certificate", signing_pem=signing_pem,
                                         roots_pem=roots, now=now)  # fmt: skip
    except WorkerError as exc:
        log.error("the firmware signing certificate could not be checked: %s", exc)
        return f"the signing certificate could not be checked ({exc})"
    return problem


async def image_check(file: Path, signing_pem: str, signature_b64: str) -> str | None:
    """signature_problem of the downloaded image, in the security worker."""
    from ..security.worker import WorkerError, call

    try:
        problem: str | None = await call(
            "firmware_signature", timeout=SIGNATURE_TIMEOUT_S, file=str(file),
            signing_pem=signing_pem, signature=signature_b64,
        )  # fmt: skip
    except WorkerError as exc:
        log.error("the firmware signature could not be checked: %s", exc)
        return f"the signature could not be checked ({exc})"
    return problem


def trusted_roots(trust_anchor: Path | None, security: Any) -> list[str]:
    """The maker roots firmware must chain to, as PEM texts: `firmware.trust_anchor` and the
    ManufacturerRootCertificates the CSMS installed (the security part's store, if any).
    Read with the standard library (chargerd/security/certificate.py)."""
    from ..security.certificate import read_pem

    roots: list[str] = []
    if trust_anchor is not None:
        try:
            roots += [cert.pem for cert in read_pem(Path(trust_anchor).read_text())]
        except (OSError, ValueError):
            pass  # checked when the configuration was loaded; gone since: not trusted
    if security is not None:
        roots += [cert.pem for cert in security.certs.roots("ManufacturerRootCertificate")]
    return roots


def certificate_problem(signing_pem: str, roots: list[Any], now: float) -> str | None:
    """None when the signing certificate chains (through the intermediates sent with it)
    to one of `roots` and every certificate on the way is in its validity period."""
    try:
        chain = load_chain(signing_pem)
    except ValueError as exc:
        return f"signing certificate unreadable: {exc}"
    if not roots:
        return "no trusted manufacturer root certificate (firmware.trust_anchor or installed)"
    for cert in chain:
        if problem := dates_problem(cert, now):
            return problem
    for cert, issuer in zip(chain, chain[1:], strict=False):
        if not issued_by(cert, issuer):
            return f"{describe(cert)} is not issued by {describe(issuer)}"
    top = chain[-1]
    for root in roots:
        if top == root or issued_by(top, root):
            return dates_problem(root, now)
    return f"{describe(top)} does not chain to a trusted manufacturer root"


def file_digest(file: Path) -> bytes:
    import hashlib

    digest = hashlib.sha256()
    with file.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.digest()


def signature_problem(file: Path, signing_pem: str, signature_b64: str) -> str | None:
    """None when `signature_b64` is the signing certificate's key's signature of the
    SHA-256 of `file`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    try:
        signature = base64.b64decode(signature_b64.strip(), validate=True)
        key = load_chain(signing_pem)[0].public_key()
    except (ValueError, binascii.Error) as exc:
        return f"signature or certificate unreadable: {exc}"
    prehashed = utils.Prehashed(hashes.SHA256())
    digest = file_digest(file)
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, digest, padding.PKCS1v15(), prehashed)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(prehashed))
        else:
            return f"unsupported key type {type(key).__name__} in the signing certificate"
    except InvalidSignature:
        return f"the signature does not match the image (SHA-256 {digest.hex()[:16]}...)"
    return None
