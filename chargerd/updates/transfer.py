"""File transfers of the firmware block: downloads (firmware images) and uploads (logs,
diagnostics) over http(s) and ftp(s). Work in progress: API first."""

from __future__ import annotations

from pathlib import Path


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
    raise NotImplementedError


async def download(url: str, dest: Path, max_bytes: int, timeout_s: float = 30) -> None:
    """Fetch `url` into `dest`, resuming a partial `dest` where the server allows."""
    raise NotImplementedError


async def upload(url: str, file: Path, timeout_s: float = 60) -> None:
    """http(s) PUT / ftp(s) STOR of `file` to `url` (a directory URL, ending in "/", gets
    the file name appended)."""
    raise NotImplementedError
