"""The security worker: what needs `cryptography`, done in a short-lived child process.

Checking a root certificate before installing it, making a key pair and its CSR, checking a
CertificateSigned chain, verifying a firmware signing certificate and a firmware signature
are rare; importing `cryptography` for them would keep about 10 MB (its Rust extension
bundles its own OpenSSL) in the daemon for good. So each such operation starts
`python -m chargerd.security.worker`, which reads one JSON request `{"op", "args"}` on
stdin, answers one JSON line `{"result": ...}` or `{"error": "..."}` on stdout and exits —
the way privilege-separated helpers of other daemons work. Keys are read and written by
the worker in `storage.dir/certs/`; no private key passes through the pipes.

`call()` is the daemon's side (asyncio, never blocking the loop); a worker that cannot be
started, exits without an answer or takes longer than its timeout raises WorkerError with
a line fit for the log, and the caller answers the CSMS as the specification says for a
failed check. The operations themselves are in operations.py, imported by the child only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("chargerd.security")

TIMEOUT_S = 30.0  # start-up and import take ~0.2 s; a loaded board is far slower
LOG_MARK = "\x1echargerd-log "  # a worker's stderr line that carries a log record
LINE_LIMIT = 1 << 20
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # where `chargerd` is importable


class WorkerError(Exception):
    """The worker did not answer: it could not start, failed, or timed out."""


def command() -> list[str]:
    return [sys.executable, "-m", "chargerd.security.worker"]


def _environment() -> dict[str, str]:
    """The daemon's environment, with chargerd importable also when it runs from a source
    tree rather than an installed package."""
    env = dict(os.environ)
    paths = [PACKAGE_ROOT, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


async def call(op: str, timeout: float | None = TIMEOUT_S,
               argv: Sequence[str] | None = None, **args: Any) -> Any:  # fmt: skip
    """Run operation `op` with `args` (JSON values) in a new worker; its result. The
    worker's log lines are logged here as they come; `timeout` None: the operation bounds
    itself (a transfer's own timeouts)."""
    level = logging.getLogger().getEffectiveLevel()
    request = json.dumps({"op": op, "args": args, "log_level": level}).encode()
    try:
        proc = await asyncio.create_subprocess_exec(
            *(argv or command()), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=_environment(), limit=LINE_LIMIT,
            start_new_session=True,  # a Ctrl-C is the daemon's to handle
        )  # fmt: skip
    except OSError as exc:
        raise WorkerError(f"{op}: the worker cannot be started ({exc})") from None
    tail: list[str] = []  # its last lines of other output (a traceback), for the error
    try:
        async with asyncio.timeout(timeout):
            out = await _exchange(proc, request, tail)
    except TimeoutError:
        raise WorkerError(f"{op}: the worker gave no answer within {timeout:g} s") from None
    finally:
        if proc.returncode is None:  # timed out or cancelled: no orphan left behind
            proc.kill()
            await proc.wait()
    try:
        answer = json.loads(out)
    except ValueError:
        raise WorkerError(f"{op}: the worker exited with {proc.returncode}: "
                          f"{(tail or ['no output'])[-1]}") from None  # fmt: skip
    if "error" in answer:
        raise WorkerError(f"{op}: {answer['error']}")
    return answer.get("result")


async def _exchange(proc: asyncio.subprocess.Process, request: bytes, tail: list[str]) -> bytes:
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        proc.stdin.write(request)
        await proc.stdin.drain()
        proc.stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass  # it died before reading: its exit and output say why
    out, _ = await asyncio.gather(proc.stdout.read(), _relay(proc.stderr, tail))
    await proc.wait()
    return out


async def _relay(stderr: asyncio.StreamReader, tail: list[str]) -> None:
    """The worker's log records into the daemon's log (same loggers, handlers, redaction);
    anything else it prints is kept for the error message."""
    async for raw in stderr:
        line = raw.decode(errors="replace").rstrip("\n")
        if line.startswith(LOG_MARK):
            try:
                level, name, message = json.loads(line[len(LOG_MARK):])
                logging.getLogger(name).log(int(level), "%s", message)
                continue
            except (ValueError, TypeError):
                pass
        tail[:] = [*tail[-4:], line]


class _ToDaemon(logging.Formatter):
    """A record as one line the daemon's `_relay` reads."""

    def format(self, record: logging.LogRecord) -> str:
        return LOG_MARK + json.dumps([record.levelno, record.name, record.getMessage()])


def main() -> int:
    """The child: one request on stdin, one answer on stdout, log records on stderr."""
    answer: dict[str, Any]
    try:
        request = json.loads(sys.stdin.read())
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_ToDaemon())
        logging.basicConfig(level=int(request.get("log_level", logging.INFO)),
                            handlers=[handler])  # fmt: skip
        from . import operations

        operation = operations.OPERATIONS.get(request.get("op"))
        if operation is None:
            answer = {"error": f"unknown operation {request.get('op')!r}"}
        else:
            answer = {"result": operation(**request.get("args", {}))}
    except Exception as exc:  # noqa: BLE001 - any failure is an answer, not a traceback
        answer = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
