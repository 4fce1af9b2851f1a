"""Secure firmware update: the signing certificate must chain to the maker's root and be
valid now; the signature must match the image (RSA and ECDSA)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from chargerd.security.chain import load_chain
from chargerd.updates.verify import certificate_problem, signature_problem
from tests.updates.maker import issue, make_maker, pem


@pytest.fixture(scope="module")
def maker():
    return make_maker()


@pytest.fixture
def image(tmp_path: Path) -> Path:
    file = tmp_path / "chargerd-fw-2.7.1.bin"
    file.write_bytes(b"\x7fELF firmware " * 100_000)  # more than one hashing chunk
    return file


def roots(m) -> list:
    return load_chain(m.root_pem)


@pytest.mark.parametrize("ecdsa", [False, True], ids=["rsa", "ecdsa"])
def test_a_good_image_signed_by_the_maker_verifies(image, ecdsa):
    m = make_maker(ecdsa=ecdsa)
    assert certificate_problem(m.signer_pem, roots(m), time.time()) is None
    assert signature_problem(image, m.signer_pem, m.sign(image)) is None


def test_a_changed_image_does_not_match_its_signature(maker, image):
    signature = maker.sign(image)
    with image.open("ab") as f:
        f.write(b"x")
    problem = signature_problem(image, maker.signer_pem, signature)
    assert problem and "does not match" in problem


def test_a_signature_that_is_not_base64_is_a_problem(maker, image):
    assert signature_problem(image, maker.signer_pem, "not base64!!")


def test_a_certificate_from_another_ca_does_not_chain(maker):
    other = make_maker("Stranger")
    problem = certificate_problem(other.signer_pem, roots(maker), time.time())
    assert problem and "does not chain" in problem


def test_an_expired_signing_certificate_is_refused():
    m = make_maker(expired=True)
    problem = certificate_problem(m.signer_pem, roots(m), time.time())
    assert problem and "expired" in problem


def test_without_a_trusted_root_nothing_verifies(maker):
    assert certificate_problem(maker.signer_pem, [], time.time())


def test_garbage_instead_of_a_certificate_is_a_problem(maker):
    assert certificate_problem("-----BEGIN CERTIFICATE-----\nxx", roots(maker), time.time())


def test_the_signing_certificate_may_bring_its_intermediate(image):
    """signer -> intermediate (sent along) -> root (trusted)."""


    m = make_maker()
    mid_key = ec.generate_private_key(ec.SECP256R1())
    mid = issue("Maker Intermediate", mid_key, "Maker Root", m.root_key, ca=True, days=(-1, 30))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue("Leaf", leaf_key, "Maker Intermediate", mid_key, ca=False, days=(-1, 30))
    assert certificate_problem(pem(leaf) + pem(mid), roots(m), time.time()) is None
    assert certificate_problem(pem(leaf), roots(m), time.time())  # without it: no chain
