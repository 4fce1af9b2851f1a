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


async def call(op: str, timeout: float = TIMEOUT_S, argv: Sequence[str] | None = None,
               **args: Any) -> Any:  # fmt: skip
    """Run operation `op` with `args` (JSON values) in a new worker; its result."""
    request = json.dumps({"op": op, "args": args}).encode()
    try:
        proc = await asyncio.create_subprocess_exec(
            *(argv or command()), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=_environment(), start_new_session=True,  # a Ctrl-C is the daemon's to handle
        )  # fmt: skip
    except OSError as exc:
        raise WorkerError(f"{op}: the security worker cannot be started ({exc})") from None
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate(request)
    except TimeoutError:
        raise WorkerError(f"{op}: the security worker gave no answer within {timeout:g} s") \
            from None  # fmt: skip
    finally:
        if proc.returncode is None:  # timed out or cancelled: no orphan left behind
            proc.kill()
            await proc.wait()
    try:
        answer = json.loads(out)
    except ValueError:
        why = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise WorkerError(f"{op}: the security worker exited with {proc.returncode}: "
                          f"{why[0]}") from None  # fmt: skip
    if "error" in answer:
        raise WorkerError(f"{op}: {answer['error']}")
    return answer.get("result")


def main() -> int:
    """The child: one request on stdin, one answer on stdout."""
    from . import operations

    answer: dict[str, Any]
    try:
        request = json.loads(sys.stdin.read())
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
