"""The TLS context of one connection attempt, and what a failed handshake means.

A new context per attempt, so a root certificate installed, a client certificate signed or
a profile raised since the last attempt applies without a restart. Trust comes from the
installed CSMS roots only (never the operating system's store), the host name in the URL
must match the server certificate, TLS 1.2 or newer with the cipher suites OCPP lists.
"""

from __future__ import annotations

import ssl
from pathlib import Path

# OCPP 1.6 security whitepaper / 2.0.1 A00: the suites a station supports under TLS 1.2
# (TLS 1.3 negotiates its own, all AEAD). The RSA key-exchange suites are listed for CSMSes
# with RSA certificates that offer nothing else.
TLS12_CIPHERS = ":".join([
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
])  # fmt: skip


class NoTrustedRoot(Exception):
    """Profile 2/3 without any CSMS root certificate: nothing to verify the server with."""


def client_context(
    roots_pem: str, cert_file: str | Path | None = None, key_file: str | Path | None = None
) -> ssl.SSLContext:
    """The context for one connection: `roots_pem` the CSMS roots (PEM, concatenated);
    `cert_file` (leaf first, then sub-CAs) and `key_file` for mutual TLS (profile 3)."""
    if not roots_pem.strip():
        raise NoTrustedRoot("no CSMS root certificate is installed (csms.ca_file)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION
    context.load_verify_locations(cadata=roots_pem)
    if cert_file is not None and key_file is not None:
        context.load_cert_chain(str(cert_file), str(key_file))
    return context


def security_event_of(exc: BaseException) -> str | None:
    """The security event a failed TLS handshake stands for (2.0.1 names), or None when it
    is not a TLS problem (a refused connection, an HTTP error)."""
    if isinstance(exc, NoTrustedRoot):
        return None  # the station's own configuration, not an attack: logged, not reported
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "InvalidCsmsCertificate"
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or "").upper()
        if "PROTOCOL_VERSION" in reason or "UNSUPPORTED_PROTOCOL" in reason:
            return "InvalidTLSVersion"
        if "CIPHER" in reason or "HANDSHAKE_FAILURE" in reason:
            return "InvalidTLSCipherSuite"
    return None
