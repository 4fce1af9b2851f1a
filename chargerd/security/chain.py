"""Checks of certificates and chains with `cryptography`: parsing, signatures, dates,
roots, key strength. They run in the security worker (worker.py, operations.py), never in
the daemon, which reads certificates with certificate.py.

Each check returns None when the certificate (chain) holds, else the reason in a line a
technician or a CSMS operator can act on (it goes into techInfo and the security log).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

MIN_RSA_BITS = 2048
MIN_EC_BITS = 224


def load_chain(pem: str) -> list[Any]:
    """The certificates of a PEM text, in order; ValueError when there is none or one is
    malformed."""
    from cryptography import x509

    data = pem.encode() if isinstance(pem, str) else pem
    certs = x509.load_pem_x509_certificates(data)  # raises ValueError
    if not certs:
        raise ValueError("no certificate in the PEM text")
    return certs


def at(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


def describe(cert: Any) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def dates_problem(cert: Any, now: float) -> str | None:
    moment = at(now)
    if moment < cert.not_valid_before_utc:
        return f"{describe(cert)} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M}Z"
    if moment > cert.not_valid_after_utc:
        return f"{describe(cert)} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M}Z"
    return None


def issued_by(cert: Any, issuer: Any) -> bool:
    """Whether `issuer`'s key signed `cert` and its name is `cert`'s issuer."""
    from cryptography.exceptions import InvalidSignature

    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):  # other name, other key, unsupported key
        return False
    return True


def root_problem(cert: Any, now: float) -> str | None:
    """Why `cert` cannot be installed as a root certificate (None: it can)."""
    from cryptography import x509

    if cert.issuer != cert.subject or not issued_by(cert, cert):
        return f"{describe(cert)} is not a self-signed root certificate"
    try:
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if not basic.ca:
            return f"{describe(cert)} is not a CA certificate (basicConstraints CA:FALSE)"
    except x509.ExtensionNotFound:
        pass  # old roots carry no extensions; the self-signature is what counts
    return dates_problem(cert, now)


def chain_problem(chain: list[Any], roots: list[Any], now: float) -> str | None:
    """Why `chain` (leaf first, then its sub-CAs) does not hold: each certificate signed by
    the next, all within their dates, and — when `roots` are given — the last one signed by
    (or equal to) one of them."""
    for cert in chain:
        problem = dates_problem(cert, now)
        if problem:
            return problem
    for child, parent in zip(chain, chain[1:], strict=False):
        if not issued_by(child, parent):
            return f"{describe(child)} is not signed by the next certificate {describe(parent)}"
    if roots:
        top = chain[-1]
        if not any(top == root or issued_by(top, root) for root in roots):
            return f"{describe(top)} is not signed by an installed root certificate"
    return None


def common_name(cert: Any) -> str | None:
    from cryptography.x509.oid import NameOID

    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def key_too_weak(cert: Any) -> str | None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"an RSA key of {key.key_size} bits (at least {MIN_RSA_BITS} wanted)"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < MIN_EC_BITS:
        return f"an EC key of {key.curve.key_size} bits (at least {MIN_EC_BITS} wanted)"
    return None
