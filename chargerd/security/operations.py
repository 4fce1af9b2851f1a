"""The worker's operations (worker.py): JSON values in, JSON values out.

Imported only in the worker process: the checks behind them (chain.py, keys.py,
updates/verify.py) use `cryptography`, the transfers (updates/transfer.py) `httpx` and
`aioftp`. Each check returns None when what it checks holds, else the reason, in a line for
the security log and the CSMS (techInfo / statusInfo).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any


def install_problem(pem: str, now: float | None = None) -> str | None:
    """Why `pem` (one certificate) cannot be installed as a root certificate."""
    from .chain import key_too_weak, load_chain, root_problem

    cert = load_chain(pem)[0]
    return root_problem(cert, time.time() if now is None else now) or key_too_weak(cert)


def new_csr(storage_dir: str, common_name: str, organization: str,
            purpose: str = "ChargingStationCertificate") -> str:  # fmt: skip
    """A new pending key pair in `storage_dir`/certs and the PEM CSR for it."""
    from .keys import new_csr as make

    return make(storage_dir, common_name, organization, purpose)


def certificate_signed(storage_dir: str, chain_pem: str, common_name: str,
                       roots_pem: list[str], now: float | None = None) -> str | None:  # fmt: skip
    """Check a CertificateSigned chain against the pending key and the CSMS roots, and
    keep it as the next client certificate when it holds."""
    from .chain import load_chain
    from .keys import certificate_signed as take

    roots = [cert for pem in roots_pem for cert in load_chain(pem)]
    return take(storage_dir, chain_pem, common_name, roots, now)


def firmware_certificate(signing_pem: str, roots_pem: list[str], now: float) -> str | None:
    """Whether a firmware signing certificate chains to one of the maker roots."""
    from ..updates.verify import certificate_problem
    from .chain import load_chain

    roots = [cert for pem in roots_pem for cert in load_chain(pem)]
    return certificate_problem(signing_pem, roots, now)


def firmware_signature(file: str, signing_pem: str, signature: str) -> str | None:
    """Whether `signature` is the signing certificate's signature of the image `file`."""
    from ..updates.verify import signature_problem

    return signature_problem(Path(file), signing_pem, signature)


def download(url: str, dest: str, max_bytes: int, timeout_s: float) -> dict[str, str] | None:
    """A firmware download (updates/transfer.py); None, or the TransferError as a dict."""
    from ..updates.transfer import download_here

    return _transfer(download_here(url, Path(dest), max_bytes, timeout_s))


def upload(url: str, file: str, timeout_s: float) -> dict[str, str] | None:
    """A log upload (updates/transfer.py); None, or the TransferError as a dict."""
    from ..updates.transfer import upload_here

    return _transfer(upload_here(url, Path(file), timeout_s))


def _transfer(transfer: Coroutine[Any, Any, None]) -> dict[str, str] | None:
    from ..updates.transfer import TransferError

    try:
        asyncio.run(transfer)
    except TransferError as exc:
        return {"kind": exc.kind, "reason": exc.reason}
    return None


OPERATIONS: dict[str, Callable[..., Any]] = {
    "install_problem": install_problem,
    "new_csr": new_csr,
    "certificate_signed": certificate_signed,
    "firmware_certificate": firmware_certificate,
    "firmware_signature": firmware_signature,
    "download": download,
    "upload": upload,
}
