"""File transfers of the firmware block: downloads (firmware images) and uploads (log and
diagnostics bundles) over http(s) (`httpx`) and ftp(s) (`aioftp`, passive mode).

- Downloads resume a partial file: HTTP `Range` (a server that answers 200 instead of 206
  sends the whole file again), FTP `REST` (a server that refuses it: from the start). They
  are bounded (`max_bytes`) and end with the file on disk (fsync), so a "Downloaded" stored
  after it never points at data a power cut took.
- Uploads: HTTP PUT, as OCPP's log upload expects of an HTTP location; a server that
  answers 405 Method Not Allowed gets the file again as a multipart POST (what many
  diagnostics receivers built with web frameworks accept). FTP STOR.
- ftps: explicit TLS (AUTH TLS on the control port, RFC 4217), implicit TLS on port 990.
- Credentials come from the URL (user:password@); they are never logged: messages and
  errors use `safe_url`, which drops user info and query. httpx logs every request's URL
  at INFO, so its loggers are kept at WARNING.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import ssl
import sys
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

log = logging.getLogger("chargerd.updates")

BLOCK = 64 * 1024
FTPS_IMPLICIT_PORT = 990

for _name in ("httpx", "httpcore"):  # they would log URLs with tokens in their query
    logging.getLogger(_name).setLevel(logging.WARNING)


class TransferError(Exception):
    """A transfer failed. `kind` (uploads): BadMessage (unusable location), PermissionDenied
    (the server refused), NotSupportedOperation (protocol), Failed; `reason` is safe to log
    (no credentials)."""

    def __init__(self, kind: str, reason: str | None = None):
        if reason is None:
            kind, reason = "Failed", kind
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def safe_url(url: str) -> str:
    """`url` without user info and query: what may be logged or shown."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unreadable URL)"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _scheme(url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise TransferError("BadMessage", "the location is not a URL") from None
    if not parts.hostname:
        raise TransferError("BadMessage", f"the location has no host: {safe_url(url)}")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https", "ftp", "ftps"):
        raise TransferError("NotSupportedOperation", f"unsupported protocol {scheme!r}")
    return scheme


async def _library(name: str) -> None:
    """Import httpx / aioftp in a thread the first time: a few hundred ms of imports on the
    event loop would stall every CALL in flight (timeouts on a busy board)."""
    if name not in sys.modules:
        await asyncio.to_thread(importlib.import_module, name)


def _sync(file: Path) -> None:
    with file.open("rb") as f:
        os.fsync(f.fileno())


# --- downloads --------------------------------------------------------------------------


async def download(url: str, dest: Path, max_bytes: int, timeout_s: float = 30) -> None:
    """download_here in a worker process (chargerd/security/worker.py): httpx / aioftp and
    what they load (about 5 MB) never stay in the daemon. Raises TransferError."""
    await _in_worker("download", url=url, dest=str(dest), max_bytes=max_bytes,
                     timeout_s=timeout_s)  # fmt: skip


async def upload(url: str, file: Path, timeout_s: float = 60) -> None:
    """upload_here in a worker process, like download. Raises TransferError."""
    await _in_worker("upload", url=url, file=str(file), timeout_s=timeout_s)


async def _in_worker(op: str, **args: object) -> None:
    from ..security.worker import WorkerError, call

    try:  # no overall timeout: the transfer's own (per read/write) bound it
        failed = await call(op, timeout=None, **args)
    except WorkerError as exc:
        raise TransferError("Failed", str(exc)) from None
    if failed:
        raise TransferError(failed["kind"], failed["reason"])


async def download_here(url: str, dest: Path, max_bytes: int, timeout_s: float = 30) -> None:
    """Fetch `url` into `dest`, resuming a partial `dest` where the server allows; raises
    TransferError(reason)."""
    scheme = _scheme(url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    await _library("httpx" if scheme.startswith("http") else "aioftp")
    try:
        if scheme in ("http", "https"):
            await _http_download(url, dest, max_bytes, timeout_s)
        else:
            await _ftp_download(url, dest, max_bytes, timeout_s)
    except TransferError:
        raise
    except (OSError, TimeoutError) as exc:
        raise TransferError(f"{safe_url(url)}: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # the libraries' own errors (httpx.HTTPError, aioftp's)
        raise TransferError(f"{safe_url(url)}: {_describe(exc)}") from None
    await asyncio.to_thread(_sync, dest)  # an image of hundreds of MB: not on the loop


def _describe(exc: Exception) -> str:
    """An error of httpx or aioftp in a line, without the URL it may carry."""
    info = getattr(exc, "info", None)  # aioftp.StatusCodeError: the server's answer
    if info:
        return f"server said {' '.join(str(i) for i in info)}".strip()
    return type(exc).__name__ + (f": {exc}" if "://" not in str(exc) else "")


def _too_big(max_bytes: int) -> TransferError:
    return TransferError(f"the file is larger than firmware.max_size_mb ({max_bytes} bytes)")


async def _http_download(url: str, dest: Path, max_bytes: int, timeout_s: float) -> None:
    import httpx

    have = dest.stat().st_size if dest.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    plain, auth = _split_auth(url)
    async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=True, auth=auth) as client:
        async with client.stream("GET", plain, headers=headers) as r:
            if r.status_code == 416 and have:  # nothing after what we have
                total = r.headers.get("content-range", "").rpartition("/")[2]
                if total == str(have):
                    return  # complete already (a restart came between the end and Downloaded)
                dest.unlink()  # longer than the file: not this file's beginning
                return await _http_download(url, dest, max_bytes, timeout_s)
            if r.status_code not in (200, 206):
                raise TransferError(f"{safe_url(url)}: HTTP {r.status_code} {r.reason_phrase}")
            resuming = r.status_code == 206
            if not resuming:
                have = 0
            length = r.headers.get("content-length")
            if length is not None and length.isdigit() and have + int(length) > max_bytes:
                raise _too_big(max_bytes)
            if resuming:
                log.info("resuming the download of %s at byte %d", safe_url(url), have)
            with dest.open("ab" if resuming else "wb") as f:
                async for chunk in r.aiter_bytes():  # as it comes: kept if the line drops
                    have += len(chunk)
                    if have > max_bytes:
                        raise _too_big(max_bytes)
                    f.write(chunk)


def _split_auth(url: str) -> tuple[str, Any]:
    """The URL without user info, and Basic auth from it (or None)."""
    import httpx

    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    netloc = parts.netloc.rpartition("@")[2]
    auth = httpx.BasicAuth(unquote(parts.username), unquote(parts.password or ""))
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), auth


async def _ftp_client(url: str, timeout_s: float) -> Any:
    """A logged-in aioftp client for `url` (passive mode: EPSV, then PASV)."""
    import aioftp

    parts = urlsplit(url)
    implicit = parts.scheme.lower() == "ftps" and parts.port == FTPS_IMPLICIT_PORT
    client = aioftp.Client(
        socket_timeout=timeout_s, connection_timeout=timeout_s,
        ssl=ssl.create_default_context() if implicit else None,
        passive_commands=("epsv", "pasv"),
    )  # fmt: skip
    try:
        await client.connect(parts.hostname, parts.port or aioftp.DEFAULT_PORT)
        if parts.scheme.lower() == "ftps" and not implicit:
            await client.upgrade_to_tls()
        user = unquote(parts.username) if parts.username else "anonymous"
        password = unquote(parts.password) if parts.password else "anonymous@"
        await client.login(user, password)
    except Exception:
        client.close()
        raise
    return client


async def _ftp_download(url: str, dest: Path, max_bytes: int, timeout_s: float) -> None:
    import aioftp

    path = unquote(urlsplit(url).path) or "/"
    client = await _ftp_client(url, timeout_s)
    try:
        have = dest.stat().st_size if dest.exists() else 0
        try:
            stream = await client.download_stream(path, offset=have)
        except aioftp.StatusCodeError:
            if not have:
                raise
            # the server refuses REST (or the file changed): from the start
            await client.quit()
            client = await _ftp_client(url, timeout_s)
            have = 0
            stream = await client.download_stream(path)
        if have:
            log.info("resuming the download of %s at byte %d", safe_url(url), have)
        with dest.open("ab" if have else "wb") as f:
            async for block in stream.iter_by_block(BLOCK):
                have += len(block)
                if have > max_bytes:
                    stream.close()
                    raise _too_big(max_bytes)
                f.write(block)
        await stream.finish()
        await client.quit()
    finally:
        client.close()


# --- uploads ----------------------------------------------------------------------------


async def upload_here(url: str, file: Path, timeout_s: float = 60) -> None:
    """http(s) PUT (POST after a 405) / ftp(s) STOR of `file` to `url`; a directory URL
    (ending in "/") gets the file name appended. Raises TransferError(kind, reason)."""
    scheme = _scheme(url)
    parts = urlsplit(url)
    if parts.path == "" or parts.path.endswith("/"):
        url = urlunsplit(parts._replace(path=(parts.path or "/") + file.name))
    await _library("httpx" if scheme.startswith("http") else "aioftp")
    try:
        if scheme in ("http", "https"):
            await _http_upload(url, file, timeout_s)
        else:
            await _ftp_upload(url, file, timeout_s)
    except TransferError:
        raise
    except Exception as exc:
        info = getattr(exc, "received_codes", None)
        if info and any(str(code).startswith("53") or str(code) == "550" for code in info):
            raise TransferError("PermissionDenied", f"{safe_url(url)}: {_describe(exc)}") from None
        raise TransferError("Failed", f"{safe_url(url)}: {_describe(exc)}") from None


async def _http_upload(url: str, file: Path, timeout_s: float) -> None:
    import httpx

    url, auth = _split_auth(url)
    async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=True, auth=auth) as client:
        r = await client.put(url, content=file.read_bytes())
        if r.status_code == 405:
            with file.open("rb") as f:
                r = await client.post(url, files={"file": (file.name, f)})
    if r.status_code in (401, 403):
        raise TransferError("PermissionDenied", f"{safe_url(url)}: HTTP {r.status_code}")
    if r.status_code >= 300:
        raise TransferError("Failed", f"{safe_url(url)}: HTTP {r.status_code} {r.reason_phrase}")


async def _ftp_upload(url: str, file: Path, timeout_s: float) -> None:
    path = PurePosixPath(unquote(urlsplit(url).path))
    client = await _ftp_client(url, timeout_s)
    try:
        stream = await client.upload_stream(path)
        with file.open("rb") as f:
            while block := f.read(BLOCK):
                await stream.write(block)
        await stream.finish()
        await client.quit()
    finally:
        client.close()

