"""OCPP 2.0.1 customer information (N09/N10): what the station knows of a customer, told
and/or forgotten when the CSMS asks (CustomerInformation -> NotifyCustomerInformation).

The station knows customers only by id token: the authorization cache, the Local
Authorization List and the records of transactions. It keeps no customer certificates and
no customer identifiers, so a request by those is answered Accepted with a report that
says so.

Clearing forgets the token in the cache and in the stored records of finished
transactions. The Local Authorization List is the CSMS's own list (it changes it with
SendLocalList), so its entry stays and the report says so. A running transaction, and the
messages still waiting for the CSMS (TransactionEvents the CSMS has a right to receive),
are kept: the report says how many.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..core.authorization import tag_key
from .host import after_answer
from .payloads import timestamp

if TYPE_CHECKING:
    from .adapter import Ocpp201Adapter

DATA_SIZE = 512  # characters of `data` per NotifyCustomerInformation
FORGOTTEN = "(removed)"  # the id token of a transaction record once cleared


def handlers(adapter: Ocpp201Adapter) -> dict[str, Callable[[dict], Awaitable[dict]]]:
    async def customer_information(p: dict[str, Any]) -> dict[str, Any]:
        if not (p["report"] or p["clear"]):
            return {"status": "Rejected"}  # nothing asked
        named = [k for k in ("idToken", "customerCertificate", "customerIdentifier") if k in p]
        if len(named) != 1:
            return {"status": "Invalid"}  # N09.FR.03: one way of naming the customer
        lines = await _lines(adapter, p)
        pages = report_pages(p["requestId"], lines, time.time())

        async def send_all() -> None:
            for page in pages:
                await adapter.send("NotifyCustomerInformation", page)

        after_answer(adapter, send_all())
        return {"status": "Accepted"}

    return {"CustomerInformation": customer_information}


async def _lines(adapter: Ocpp201Adapter, p: dict[str, Any]) -> list[str]:
    if "idToken" not in p:
        what = "customer certificate" if "customerCertificate" in p else "customer identifier"
        return [f"No data: this station keeps no {what}s."]
    token = p["idToken"]["idToken"]
    lines = know(adapter, token) if p["report"] else []
    if p["clear"]:
        lines += await forget(adapter, token)
    return lines or [f"No data about id token {token}."]


def know(adapter: Ocpp201Adapter, token: str) -> list[str]:
    """What the station holds of `token`, one fact a line."""
    out = []
    cached = adapter.rt.station.auth_cache.get(tag_key(token))
    if cached is not None:
        expires = f", expires {_when(cached.expires_at)}" if cached.expires_at else ""
        out.append(f"Authorization cache: {token} {cached.status}{expires}.")
    listed = adapter.local_list.lookup(token)
    if listed is not None:
        out.append(f"Local authorization list: {token} ({listed[1]}) {listed[0].status}.")
    for tx_id, connector, started, meter_start, last_meter, ended in _transactions(adapter, token):
        state = "ended" if ended else "running"
        out.append(
            f"Transaction {tx_id} on EVSE {connector}: started {_when(started)}, "
            f"{last_meter - meter_start} Wh, {state}."
        )
    return out


async def forget(adapter: Ocpp201Adapter, token: str) -> list[str]:
    """Forget `token` where the station may; say what was removed and what was kept."""
    station, db = adapter.rt.station, adapter.store.db
    key = tag_key(token)
    out = []
    if await adapter.rt.feed(lambda now: station.auth_cache.pop(key, None)) is not None:
        out.append("Cleared: the authorization cache entry.")
    records = _transactions(adapter, token)
    with db:  # durable: a customer told "cleared" must stay cleared after a power cut
        db.execute("DELETE FROM auth_cache WHERE id_tag=? COLLATE NOCASE", (token,))
        db.execute(
            "UPDATE transactions SET id_tag=? WHERE id_tag=? COLLATE NOCASE AND ended=1",
            (FORGOTTEN, token),
        )
    ended = sum(1 for r in records if r[5])
    if ended:
        out.append(f"Cleared: the id token in {ended} finished transaction record(s).")
    if len(records) > ended:
        out.append(f"Kept: {len(records) - ended} running transaction(s); they end as usual.")
    if adapter.local_list.lookup(token) is not None:
        out.append("Kept: the local authorization list entry (the CSMS's list; SendLocalList).")
    return out


def _transactions(adapter: Ocpp201Adapter, token: str) -> list[tuple]:
    return adapter.store.db.execute(
        "SELECT id, connector, started_at, meter_start_wh, last_meter_wh, ended"
        " FROM transactions WHERE id_tag=? COLLATE NOCASE ORDER BY started_at",
        (token,),
    ).fetchall()


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def report_pages(request_id: int, lines: list[str], now: float) -> list[dict[str, Any]]:
    """NotifyCustomerInformation payloads: whole lines while they fit DATA_SIZE (a longer
    line is cut in pieces); tbc on all but the last."""
    chunks: list[str] = []
    for line in lines:
        for start in range(0, len(line), DATA_SIZE):
            piece = line[start : start + DATA_SIZE]
            if chunks and len(chunks[-1]) + 1 + len(piece) <= DATA_SIZE:
                chunks[-1] += "\n" + piece
            else:
                chunks.append(piece)
    return [
        {
            "requestId": request_id,
            "seqNo": seq,
            "generatedAt": timestamp(now),
            "tbc": seq < len(chunks) - 1,
            "data": chunk,
        }
        for seq, chunk in enumerate(chunks)
    ]
