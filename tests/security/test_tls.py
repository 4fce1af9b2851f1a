"""The client TLS context against a real TLS server on 127.0.0.1 (a thread with a blocking
socket, so failures come back as the TLS alerts a CSMS sends), and what each failure is
reported as."""

from __future__ import annotations

import socket
import ssl
import threading
import warnings
from pathlib import Path

import pytest

from chargerd.security.tls import NoTrustedRoot, client_context, security_event_of

from . import pki


@pytest.fixture(scope="module")
def csms_pki(tmp_path_factory):
    d: Path = tmp_path_factory.mktemp("tls")
    root = pki.root("TLS Root")
    cert, key = pki.issue(pki.name("csms"), root, hosts=("127.0.0.1",)).write(d, "csms")
    return root, str(cert), str(key)


def server_context(cert: str, key: str, ciphers: str | None = None, **versions) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated: that is the point here
        warnings.simplefilter("ignore", DeprecationWarning)
        for name, version in versions.items():
            setattr(context, name, version)
    if ciphers:
        context.set_ciphers(ciphers)
    return context


def handshake(server: ssl.SSLContext, client: ssl.SSLContext, host: str = "127.0.0.1"):
    """One TLS handshake; the client's exception, or None when it succeeded."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            server.wrap_socket(conn, server_side=True).close()
        except (ssl.SSLError, OSError):
            pass  # the server's side of a failed handshake
        finally:
            conn.close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with socket.create_connection(listener.getsockname(), timeout=5) as raw:
            client.wrap_socket(raw, server_hostname=host).close()
        return None
    except (ssl.SSLError, OSError) as exc:
        return exc
    finally:
        thread.join(5)
        listener.close()


def test_a_server_from_the_installed_root_is_accepted_over_tls_12_or_13(csms_pki):
    root, cert, key = csms_pki
    assert handshake(server_context(cert, key), client_context(root.pem)) is None
    tls12 = server_context(cert, key, maximum_version=ssl.TLSVersion.TLSv1_2)
    assert handshake(tls12, client_context(root.pem)) is None


def test_another_root_is_an_invalid_csms_certificate(csms_pki):
    _, cert, key = csms_pki
    exc = handshake(server_context(cert, key), client_context(pki.root("Other").pem))
    assert security_event_of(exc) == "InvalidCsmsCertificate"


def test_a_host_name_the_certificate_does_not_name_is_an_invalid_csms_certificate(csms_pki):
    root, cert, key = csms_pki
    exc = handshake(server_context(cert, key), client_context(root.pem), host="csms.other")
    assert isinstance(exc, ssl.SSLCertVerificationError)
    assert security_event_of(exc) == "InvalidCsmsCertificate"


def test_a_server_stuck_at_tls_11_is_an_invalid_tls_version(csms_pki):
    root, cert, key = csms_pki
    old = server_context(cert, key, "DEFAULT:@SECLEVEL=0",
                         minimum_version=ssl.TLSVersion.TLSv1,
                         maximum_version=ssl.TLSVersion.TLSv1_1)  # fmt: skip
    assert security_event_of(handshake(old, client_context(root.pem))) == "InvalidTLSVersion"


def test_a_server_with_only_cbc_suites_is_an_invalid_cipher_suite(csms_pki):
    root, cert, key = csms_pki
    cbc = server_context(cert, key, "ECDHE-ECDSA-AES128-SHA",
                         maximum_version=ssl.TLSVersion.TLSv1_2)  # fmt: skip
    assert security_event_of(handshake(cbc, client_context(root.pem))) == "InvalidTLSCipherSuite"


def test_the_client_offers_only_aead_suites_under_tls_12():
    context = client_context(pki.root().pem)
    tls12 = [c for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12 and all("GCM" in c["name"] for c in tls12)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_no_installed_root_is_no_tls_at_all():
    with pytest.raises(NoTrustedRoot):
        client_context("")
    assert security_event_of(NoTrustedRoot("x")) is None
