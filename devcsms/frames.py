"""How the development CSMSes print, compare and check OCPP-J payloads (both versions)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.messages import CallError


def dumps(payload: Any) -> str:
    """Compact JSON for logs and ledger lines; repr() of what JSON cannot hold."""
    try:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(payload)


def canonical(payload: Any) -> str:
    """One text per payload value, to tell a repeated message from a different one."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


def now_iso() -> str:
    """The current UTC time as OCPP wants it (milliseconds, "Z")."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def bad_timestamps(payload: Any, path: str = "") -> list[str]:
    """Paths of `timestamp` fields that are not ISO 8601 date-times with a UTC offset.

    The schemas say "format": "date-time", which jsonschema does not check by default.
    """
    bad: list[str] = []
    if isinstance(payload, dict):
        for key, value in payload.items():
            where = f"{path}.{key}" if path else key
            if key == "timestamp" and isinstance(value, str):
                try:
                    parsed = datetime.fromisoformat(value)
                except ValueError:
                    bad.append(f"{where}={value!r}")
                else:
                    if parsed.tzinfo is None or "T" not in value:
                        bad.append(f"{where}={value!r}")
            else:
                bad.extend(bad_timestamps(value, where))
    elif isinstance(payload, list):
        for i, value in enumerate(payload):
            bad.extend(bad_timestamps(value, f"{path}[{i}]"))
    return bad


def schema_cause(exc: OCPPError) -> str:
    """The first line of what an ocpp error says (jsonschema's own text is long)."""
    cause = exc.details.get("cause") if isinstance(exc.details, dict) else None
    return str(cause or exc.description).strip().splitlines()[0]


def unique_id_key(unique_id: Any) -> Any:
    """A dict key for a unique id as received (a station may send any JSON there)."""
    return unique_id if isinstance(unique_id, str | int | float) else canonical(unique_id)


def error_payload(msg: CallError) -> dict:
    """A CALLERROR as the ledger records it."""
    return {
        "errorCode": msg.error_code,
        "errorDescription": msg.error_description,
        "errorDetails": msg.error_details,
    }
