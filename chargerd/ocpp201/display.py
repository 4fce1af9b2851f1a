"""OCPP 2.0.1 display messages (O01-O06) and tariff and cost (I01-I08), on the display part
(chargerd/display/part.py).

- SetDisplayMessage / GetDisplayMessages (+ NotifyDisplayMessages pages) /
  ClearDisplayMessage, checked against the DisplayMessageCtrlr variables;
- CostUpdated, and the answers to Authorize and TransactionEvent: idTokenInfo's
  personalMessage (the driver's tariff), updatedPersonalMessage and totalCost (the running
  cost of an Updated, the final cost of an Ended event), as TariffCostCtrlr allows;
- the TariffCostCtrlr fallback messages, shown when the CSMS said nothing (offline).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..adapter import Runtime
from ..display.messages import FORMATS, DisplayMessage, Priority, State, money, plain_text
from ..display.part import DriverTexts
from .components import Value
from .device_model import DeviceModel
from .display_variables import (
    MAX_MESSAGES,
    PERSONAL_MESSAGE_SIZE,
)
from .host import after_answer
from .payloads import timestamp

if TYPE_CHECKING:
    from ..display.part import DisplayPart
    from .adapter import Ocpp201Adapter

log = logging.getLogger("chargerd.ocpp201")

MESSAGES_PER_PAGE = 8  # messageInfo entries per NotifyDisplayMessages


def dynamic(adapter: Ocpp201Adapter, name: str) -> Value | None:
    """DisplayMessageCtrlr.DisplayMessages: the number of messages set."""
    part = _part(adapter)
    return len(part.messages()) if name == "DisplayMessages" and part else None


def _part(adapter: Ocpp201Adapter) -> DisplayPart | None:
    return _part_of(getattr(adapter, "rt", None))


def _part_of(rt: Runtime | None) -> DisplayPart | None:
    parts = getattr(rt, "parts", None) or {}
    part = parts.get("display")
    return part  # type: ignore[no-any-return]


def _enabled(adapter: Ocpp201Adapter | DeviceModel, what: str) -> bool:
    dm = adapter if isinstance(adapter, DeviceModel) else adapter.dm
    return bool(dm.value("TariffCostCtrlr", "Enabled", instance=what))


def _currency(adapter: Ocpp201Adapter) -> str:
    return str(adapter.dm.value("TariffCostCtrlr", "Currency"))


def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def driver_texts(adapter: Ocpp201Adapter, online: bool) -> DriverTexts:
    """The fallback messages, as far as TariffCostCtrlr enables them."""
    tariff = _enabled(adapter, "Tariff")
    cost = _enabled(adapter, "Cost")
    return DriverTexts(
        tariff_fallback=str(adapter.dm.value("TariffCostCtrlr", "TariffFallbackMessage"))
        if tariff
        else "",
        total_fallback=str(adapter.dm.value("TariffCostCtrlr", "TotalCostFallbackMessage"))
        if cost
        else "",
    )


# --- the CSMS's requests ---------------------------------------------------------------------


def handlers(adapter: Ocpp201Adapter) -> dict[str, Callable[[dict], Awaitable[dict]]]:
    async def set_display_message(p: dict[str, Any]) -> dict[str, Any]:
        return {"status": _set(adapter, p["message"])}

    async def get_display_messages(p: dict[str, Any]) -> dict[str, Any]:
        return _get(adapter, p)

    async def clear_display_message(p: dict[str, Any]) -> dict[str, Any]:
        part = _part(adapter)
        found = part is not None and part.clear(int(p["id"]))
        return {"status": "Accepted" if found else "Unknown"}

    async def cost_updated(p: dict[str, Any]) -> dict[str, Any]:
        part = _part(adapter)
        if part is not None and _enabled(adapter, "Cost"):
            cost = float(p["totalCost"])
            text = f"Cost {money(cost, _currency(adapter))}"
            if not part.running_cost(p["transactionId"], cost, text):
                log.info("CostUpdated for transaction %s, not running here", p["transactionId"])
        return {}

    return {
        "SetDisplayMessage": set_display_message,
        "GetDisplayMessages": get_display_messages,
        "ClearDisplayMessage": clear_display_message,
        "CostUpdated": cost_updated,
    }


def _set(adapter: Ocpp201Adapter, info: dict[str, Any]) -> str:
    """SetDisplayMessage's status for one MessageInfoType (O01/O02/O03/O06)."""
    part = _part(adapter)
    if part is None or not adapter.dm.value("DisplayMessageCtrlr", "Enabled"):
        return "Rejected"
    content = info["message"]
    if content["format"] not in FORMATS:
        return "NotSupportedMessageFormat"
    if info["priority"] not in tuple(Priority):
        return "NotSupportedPriority"
    if info.get("state") is not None and info["state"] not in tuple(State):
        return "NotSupportedState"
    tx_id = info.get("transactionId")
    if tx_id is not None and not part.running(tx_id):
        return "UnknownTransaction"
    evse = ((info.get("display") or {}).get("evse") or {}).get("id") or None  # 0: station
    if evse is not None and evse not in adapter.rt.station.connectors:
        return "Rejected"
    known = {m.id for m in part.messages()}
    if info["id"] not in known and len(known) >= MAX_MESSAGES:
        return "Rejected"
    start, end = _epoch(info.get("startDateTime")), _epoch(info.get("endDateTime"))
    if start is not None and end is not None and end <= start:
        return "Rejected"
    state = info.get("state")
    part.put(
        DisplayMessage(
            id=int(info["id"]),
            priority=Priority(info["priority"]),
            content=content["content"],
            format=content["format"],
            language=content.get("language"),
            state=State(state) if state else None,
            start=start,
            end=end,
            transaction_id=tx_id,
            evse=evse,
            set_at=time.time(),
        )
    )
    return "Accepted"


def _get(adapter: Ocpp201Adapter, p: dict[str, Any]) -> dict[str, Any]:
    """GetDisplayMessages (O04): Accepted and NotifyDisplayMessages pages, or Unknown."""
    part = _part(adapter)
    ids = set(p.get("id") or ())
    chosen = [
        m
        for m in (part.messages() if part else [])
        if (not ids or m.id in ids)
        and (p.get("priority") is None or m.priority == p["priority"])
        and (p.get("state") is None or m.state == p["state"])
    ]
    if not chosen:
        return {"status": "Unknown"}
    request_id = p["requestId"]
    infos = [message_info(m) for m in chosen]
    pages = [infos[i : i + MESSAGES_PER_PAGE] for i in range(0, len(infos), MESSAGES_PER_PAGE)]

    async def notify() -> None:
        for n, page in enumerate(pages):
            payload: dict[str, Any] = {"requestId": request_id, "messageInfo": page}
            if n < len(pages) - 1:
                payload["tbc"] = True
            await adapter.send("NotifyDisplayMessages", payload)

    after_answer(adapter, notify())
    return {"status": "Accepted"}


def message_info(m: DisplayMessage) -> dict[str, Any]:
    """A message as MessageInfoType."""
    content: dict[str, Any] = {"format": m.format, "content": m.content}
    if m.language:
        content["language"] = m.language
    info: dict[str, Any] = {"id": m.id, "priority": str(m.priority), "message": content}
    if m.state is not None:
        info["state"] = str(m.state)
    if m.start is not None:
        info["startDateTime"] = timestamp(m.start)
    if m.end is not None:
        info["endDateTime"] = timestamp(m.end)
    if m.transaction_id is not None:
        info["transactionId"] = m.transaction_id
    if m.evse is not None:
        info["display"] = {"name": "Display", "evse": {"id": m.evse}}
    return info


# --- what the CSMS's answers carry ------------------------------------------------------------


def personal_text(content: dict[str, Any] | None) -> str:
    """A personalMessage (MessageContentType) as the screen shows it."""
    if not content or content.get("format") not in FORMATS:
        return ""
    return plain_text(content["content"], content["format"])[:PERSONAL_MESSAGE_SIZE]


def token_answered(
    rt: Runtime | None, dm: DeviceModel, token: str, id_token_info: dict[str, Any]
) -> None:
    """An Authorize answer: its personalMessage is the driver's tariff (I01)."""
    part = _part_of(rt)
    text = personal_text(id_token_info.get("personalMessage"))
    if part is not None and text and _enabled(dm, "Tariff"):
        part.tariff(token, text, time.time())


def transaction_answered(
    adapter: Ocpp201Adapter, payload: dict[str, Any], answer: dict[str, Any] | None
) -> None:
    """A TransactionEvent answer: the tariff (idTokenInfo.personalMessage), the running cost
    (updatedPersonalMessage, totalCost of an Updated) or the final cost (Ended)."""
    part = _part(adapter)
    if part is None or not answer:
        return
    tx_id = payload["transactionInfo"]["transactionId"]
    now = time.time()
    tariff = _enabled(adapter, "Tariff")
    info = answer.get("idTokenInfo") or {}
    token = (payload.get("idToken") or {}).get("idToken", "")
    if tariff and (text := personal_text(info.get("personalMessage"))):
        part.tariff(token, text, now, transaction_id=tx_id)
    update = personal_text(answer.get("updatedPersonalMessage")) if tariff else ""
    total = answer.get("totalCost")
    if not _enabled(adapter, "Cost"):
        total = None
    if payload["eventType"] == "Ended":
        if total is not None:
            text = update or f"Total {money(float(total), _currency(adapter))}"
            part.final_cost(tx_id, float(total), text, now)
        return
    if total is not None or update:
        cost = float(total) if total is not None else None
        text = update or f"Cost {money(float(total or 0), _currency(adapter))}"
        part.running_cost(tx_id, cost, text)
