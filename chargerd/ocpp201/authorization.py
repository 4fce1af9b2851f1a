"""Id tokens the core asks about (OCPP 2.0.1 C01, C12-C15, D: the local list).

The core asks about every id token it cannot decide by its own rules (the Local
Authorization List and the cache under LocalPreAuthorize; the adapter keeps the core's
`online` flag true); this part asks the CSMS (Authorize), or hands the token back with
`authorization_failed` so the core's offline rules (list, cache, LocalAuthorizeOffline,
OfflineTxForUnknownIdEnabled) decide. AuthCtrlr.DisableRemoteAuthorization true: no
Authorize is sent; the list and the cache decide, and a token neither knows is refused.

A token's groupIdToken travels as `AuthInfo.parent_id`, from Authorize answers, the local
list and the cache alike: the core lets a token of the same group stop a transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ..adapter import Runtime
from ..core.model import AuthInfo, AuthStatus
from ..local_list import LocalList
from ..outbox import Outbox
from ..rpc import CallError, ConnectionLost
from .device_model import DeviceModel
from .payloads import DEFAULT_TOKEN_TYPE, auth_info, id_token

log = logging.getLogger("chargerd.ocpp201")


class Authorizer:
    def __init__(
        self,
        dm: DeviceModel,
        local_list: LocalList,
        outbox: Outbox,
        online: Callable[[], bool],
    ):
        self.dm, self.local_list, self.outbox = dm, local_list, outbox
        self._online = online
        self.token_types: dict[str, str] = {}  # casefolded id token -> IdTokenEnumType
        self.rt: Runtime | None = None

    def bind(self, runtime: Runtime) -> None:
        self.rt = runtime
        runtime.station.local_list = self.local_list.info

    def token_seen(self, token: dict[str, Any]) -> None:
        """An IdTokenType from the CSMS (RequestStartTransaction): remember its type."""
        self.token_types[token["idToken"].casefold()] = token["type"]

    def token_type(self, token: str) -> str:
        known = self.token_types.get(token.casefold())
        if known:
            return known
        listed = self.local_list.lookup(token)
        return listed[1] if listed else DEFAULT_TOKEN_TYPE

    def info_from_csms(self, id_token_info: dict[str, Any]) -> AuthInfo:
        """An IdTokenInfo of the CSMS (Authorize or TransactionEvent answer) for the core."""
        lifetime = float(self.dm.value("AuthCacheCtrlr", "LifeTime"))
        return auth_info(id_token_info, time.time(), lifetime)

    def answered(self, token: str, id_token_info: dict[str, Any]) -> None:
        """The CSMS's answer about `token` may carry the driver's tariff (I01)."""
        from .display import token_answered  # display.py needs what needs this module

        token_answered(self.rt, self.dm, token, id_token_info)

    async def authorize(self, token: str) -> None:
        """Answer the core's RequestAuthorization for `token`: the CSMS's answer, or the
        core's own rules (local list, cache, offline rules) when it cannot be asked."""
        assert self.rt is not None, "bind() first"
        station = self.rt.station
        if self.dm.value("AuthCtrlr", "DisableRemoteAuthorization"):
            known = station.known(token)  # the list, else the cache
            info = known if known is not None else AuthInfo(AuthStatus.Invalid)
            log.info("id token %s: %s (remote authorization disabled)", token, info.status)
            await self.rt.feed(lambda now: station.authorization_answered(token, info, now))
            return
        if self._online():
            try:
                payload = {"idToken": id_token(token, self.token_type(token))}
                answer = await self.outbox.call("Authorize", payload)
            except (CallError, TimeoutError, ConnectionLost) as exc:
                log.warning("Authorize %s got no answer (%s); offline rules apply", token, exc)
            else:
                info = self.info_from_csms(answer["idTokenInfo"])
                self.answered(token, answer["idTokenInfo"])
                await self.rt.feed(lambda now: station.authorization_answered(token, info, now))
                return
        await self.rt.feed(lambda now: station.authorization_failed(token, now))
