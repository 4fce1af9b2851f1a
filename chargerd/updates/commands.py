"""`chargerctl firmware`: the version running, the update in progress, the last results."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .part import Updates


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def render(summary: dict[str, Any]) -> str:
    lines = [f"firmware version: {summary['version']}"]
    update = summary.get("update")
    if update is None:
        lines.append("update in progress: none")
    else:
        request = update["request_id"] if update["request_id"] is not None else "-"
        install = "when idle" if update["install_at"] is None else _when(update["install_at"])
        lines += [
            f"update in progress: request {request}, {update['status']}",
            f"  image:     {update['location']} (version {update['version']}"
            + (", signed)" if update["signed"] else ")"),
            f"  download:  attempt {update['attempt']} of {update['attempts']}, "
            + (
                f"next at {_when(update['retry_at'])}"
                if update.get("retry_at")
                else f"not before {_when(update['retrieve_at'])}"
            ),
            f"  install:   {install}",
        ]
        if update["detail"]:
            lines.append(f"  last problem: {update['detail']}")
    if summary["last"]:
        lines.append("last results:")
        for r in summary["last"]:
            request = r["request_id"] if r["request_id"] is not None else "-"
            detail = f" ({r['detail']})" if r["detail"] else ""
            lines.append(f"  {_when(r['finished_at'])}  request {request}  {r['version']}  "
                         f"{r['status']}{detail}  {r['location']}")  # fmt: skip
    return "\n".join(lines)


def summary(updates: Updates) -> dict[str, Any]:
    """The version, the update in progress and the last results (chargerctl firmware and
    `firmware` in chargerctl status)."""
    from .transfer import safe_url

    current = None
    if updates.active():
        s = updates.machine.state
        assert s.request is not None
        current = {
            "request_id": s.request.request_id, "status": str(s.status),
            "location": safe_url(s.request.location), "version": s.version,
            "attempt": s.attempt, "attempts": s.request.attempts, "retry_at": s.retry_at,
            "retrieve_at": s.request.retrieve_at, "install_at": s.request.install_at,
            "signed": s.request.signed, "detail": updates.detail,
        }  # fmt: skip
    return {
        "version": updates.running_version(),
        "update": current,
        "last": updates.journal.history(5),
    }


async def firmware(daemon: Any, args: list[str]) -> str:
    """chargerctl firmware [--json]"""
    if args not in ([], ["--json"]):
        raise ValueError("usage: firmware [--json]")
    found = summary(daemon.parts["updates"])
    return json.dumps(found, indent=2) if args else render(found)
