"""Authorization rules of the station core: who may start or stop a transaction.

A card at the reader stops the transaction it started, or one of its group (OCPP 1.6
parentIdTag, 2.0.1 groupIdToken); a card of the master pass group stops every transaction and
starts none. Otherwise it is authorized from local knowledge or by asking the CSMS.

Local knowledge is the local authorization list (given by the adapter as `local_list`, used
while `local_auth_list_enabled`) and the cache; an id tag in both is taken from the list. It
decides online only under LocalPreAuthorize (and only to accept), offline only under
LocalAuthorizeOffline; a tag neither knows is accepted offline only under
AllowOfflineTxForUnknownId. These are the rules of both OCPP versions: the adapters hold
none of their own. Part of `Station` (a mixin): it uses the station's connectors and its
start/stop rules; no I/O, time is an argument.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .model import (
    AuthInfo,
    Authorization,
    AuthorizationRejected,
    AuthStatus,
    CacheAuthorization,
    CoreSettings,
    Decision,
    RefusedBy,
    RequestAuthorization,
    StopReason,
    Transaction,
)

if TYPE_CHECKING:
    from .connector import Connector

AUTH_CACHE_SIZE = 1024  # id tags remembered; memory and storage stay bounded


def tag_key(id_tag: str) -> str:
    """Id tags compare without regard to case (OCPP: CiString)."""
    return id_tag.casefold()


def same_tag(a: str, b: str) -> bool:
    return tag_key(a) == tag_key(b)


@dataclass
class PendingAuth:
    connector: int | None
    remote_start_id: int | None
    # Presented at the reader (not a remote start): if accepted, it may stop a transaction
    # of its group instead of starting one.
    at_reader: bool = False


LocalList = Callable[[str], AuthInfo | None]
"""What the local authorization list says of an id tag, or None if it does not list it."""


class AuthorizationRules:
    # the local authorization list, set by the adapter of a version that has one
    local_list: LocalList | None = None
    # what the station provides
    settings: CoreSettings
    connectors: dict[int, Connector]
    online: bool
    auth_cache: dict[str, AuthInfo]
    waiting_for_plug: Authorization | None
    _pending: dict[str, PendingAuth]
    _decisions: list[Decision]
    transactions: Callable[[], list[Transaction]]
    _can_start: Callable[[Connector], bool]
    _can_authorize: Callable[[Connector], bool]
    _grant: Callable[[Connector, Authorization, float], None]
    _deauthorize: Callable[..., None]
    _start: Callable[[Connector, float], None]
    _settle: Callable[[Connector, float], None]
    _claim: Callable[[Connector, Authorization], bool]
    _reserved_connector: Callable[[str, str | None], int | None]

    def _stop(self, c: Connector, reason: StopReason, now: float, **kwargs: object) -> None:
        raise NotImplementedError

    # --- inputs: authorization -------------------------------------------------------------

    def tag_presented(self, id_tag: str, connector: int | None, now: float) -> None:
        """A card at the reader: it stops the transaction it started, or one of its group
        (same parent id tag), or else it authorizes a new one."""
        for c in self.connectors.values():
            tx = c.transaction
            if tx and same_tag(tx.id_tag, id_tag) and connector in (None, c.id):
                self._deauthorize(c, StopReason.Local, now, id_tag)  # tx_points.py
                return
        if connector is not None and connector not in self.connectors:
            return
        pending = PendingAuth(connector, None, at_reader=True)
        master_pass = self.settings.master_pass_group is not None and bool(self.transactions())
        if master_pass or self._group_transactions(id_tag, connector):
            known = self._trusted_entry(id_tag, now, online=self.online)
            if known is not None and known.parent_id:  # its group is known here: no need to ask
                if self._authorized(id_tag, known.parent_id, pending, now):
                    return
            elif self.online:  # its group is known only to the CSMS
                self._ask(id_tag, pending)
                return
        self._authorize(id_tag, pending, now)

    def authorization_answered(self, id_tag: str, info: AuthInfo, now: float) -> None:
        self._remember(id_tag, info)
        pending = self._pending.pop(id_tag, None)
        if pending is None:
            return
        if info.valid_at(now):
            self._authorized(id_tag, info.parent_id, pending, now)
        else:
            self._decisions.append(AuthorizationRejected(id_tag, str(info.status)))

    def authorization_failed(self, id_tag: str, now: float) -> None:
        """No answer from the CSMS (offline, timeout): decide by the offline rules."""
        pending = self._pending.pop(id_tag, None)
        if pending is None:
            return
        status = self._local_decision(id_tag, now, online=False)
        if status is AuthStatus.Accepted:
            self._authorized(id_tag, self._known_parent(id_tag), pending, now)
        else:
            self._refuse_offline(id_tag, status)

    def clear_cache(self) -> None:
        self.auth_cache.clear()
        self._decisions.append(CacheAuthorization(None, None))

    def _authorize(self, id_tag: str, pending: PendingAuth, now: float) -> None:
        status = self._local_decision(id_tag, now, online=self.online)
        if status is None:
            self._ask(id_tag, pending)
        elif status is AuthStatus.Accepted:
            self._authorized(id_tag, self._known_parent(id_tag), pending, now)
        else:  # refused without asking: only offline
            self._refuse_offline(id_tag, status)

    def _refuse_offline(self, id_tag: str, status: AuthStatus) -> None:
        """Refused by the offline rules: the list's or the cache's answer, or an unknown tag."""
        by = RefusedBy.OFFLINE_UNKNOWN
        if self.settings.local_authorize_offline and self._listed(id_tag) is not None:
            by = RefusedBy.OFFLINE_LIST
        elif self.settings.local_authorize_offline and self._cached(id_tag) is not None:
            by = RefusedBy.OFFLINE_CACHE
        self._decisions.append(AuthorizationRejected(id_tag, str(status), by))

    def _ask(self, id_tag: str, pending: PendingAuth) -> None:
        self._pending[id_tag] = pending
        self._decisions.append(RequestAuthorization(id_tag))

    def _authorized(
        self, id_tag: str, parent_id: str | None, pending: PendingAuth, now: float
    ) -> bool:
        """An accepted tag: at the reader it first stops a transaction of its group (OCPP
        1.6 parentIdTag, 2.0.1 groupIdToken); otherwise it may start one. A master pass
        stops every transaction and starts none (2.0.1 C16). True if the tag was dealt with
        without starting (a transaction stopped, a master pass refused)."""
        master = self.settings.master_pass_group
        if parent_id and master and same_tag(parent_id, master):
            running = self.transactions()
            if pending.at_reader and running:
                for tx in running:
                    c = self.connectors[tx.connector]
                    self._stop(c, StopReason.MasterPass, now, id_tag=id_tag)
            else:
                self._decisions.append(
                    AuthorizationRejected(id_tag, "MasterPass", RefusedBy.MASTER_PASS)
                )
            return True
        if pending.at_reader and parent_id:
            for tx in self._group_transactions(id_tag, pending.connector):
                if same_tag(tx.parent_id or "", parent_id):
                    self._stop(self.connectors[tx.connector], StopReason.Local, now, id_tag=id_tag)
                    return True
        self._accept(id_tag, pending.connector, pending.remote_start_id, now, parent_id)
        return False

    def _group_transactions(self, id_tag: str, connector: int | None) -> list[Transaction]:
        """Running transactions `id_tag` may stop if it is of their group: those whose
        starting tag's parent is known and that `id_tag` did not start."""
        return [
            tx
            for tx in self.transactions()
            if tx.parent_id is not None
            and connector in (None, tx.connector)
            and not same_tag(tx.id_tag, id_tag)
        ]

    def _listed(self, id_tag: str) -> AuthInfo | None:
        if self.local_list is None or not self.settings.local_auth_list_enabled:
            return None
        return self.local_list(id_tag)

    def _cached(self, id_tag: str) -> AuthInfo | None:
        if not self.settings.auth_cache_enabled:
            return None
        return self.auth_cache.get(tag_key(id_tag))

    def known(self, id_tag: str) -> AuthInfo | None:
        """What the station knows of `id_tag` without the CSMS: the list wins over the cache."""
        listed = self._listed(id_tag)
        return listed if listed is not None else self._cached(id_tag)

    def _known_parent(self, id_tag: str) -> str | None:
        known = self.known(id_tag)
        return known.parent_id if known is not None else None

    def _trusted_entry(self, id_tag: str, now: float, *, online: bool) -> AuthInfo | None:
        """The list's or the cache's entry of `id_tag` if the rules let the station act on
        it without asking the CSMS (LocalPreAuthorize online, LocalAuthorizeOffline offline)."""
        s, known = self.settings, self.known(id_tag)
        allowed = s.local_pre_authorize if online else s.local_authorize_offline
        return known if known is not None and allowed and known.valid_at(now) else None

    def _local_decision(self, id_tag: str, now: float, *, online: bool) -> AuthStatus | None:
        """Accepted/refused from local knowledge, or None: ask the CSMS."""
        s = self.settings
        known = self.known(id_tag)
        if online:
            if s.local_pre_authorize and known is not None and known.valid_at(now):
                return AuthStatus.Accepted
            return None  # a tag the list or cache refuses is still asked about online
        if known is not None and s.local_authorize_offline:
            if known.valid_at(now):
                return AuthStatus.Accepted
            return AuthStatus.Expired if known.status is AuthStatus.Accepted else known.status
        if s.allow_offline_unknown_id:
            return AuthStatus.Accepted
        return AuthStatus.Invalid

    def _remember(self, id_tag: str, info: AuthInfo) -> None:
        if self.settings.auth_cache_enabled:
            key = tag_key(id_tag)
            self.auth_cache.pop(key, None)  # re-inserted last: the most recently seen
            self.auth_cache[key] = info
            self._decisions.append(CacheAuthorization(id_tag, info))
            while len(self.auth_cache) > AUTH_CACHE_SIZE:  # forget the least recently seen
                oldest = next(iter(self.auth_cache))
                del self.auth_cache[oldest]
                self._decisions.append(CacheAuthorization(oldest, None))

    def _accept(
        self,
        id_tag: str,
        connector: int | None,
        remote_start_id: int | None,
        now: float,
        parent_id: str | None = None,
    ) -> None:
        authorization = Authorization(id_tag, now, remote_start_id, parent_id)
        if connector is None:
            plugged = [
                c
                for c in self.connectors.values()
                if c.plugged and self._can_authorize(c) and self._claim(c, authorization)
            ]
            if plugged:
                connector = plugged[0].id
            else:  # its own reserved connector, else whichever the EV is plugged into
                connector = self._reserved_connector(id_tag, parent_id)
            if connector is None:
                self.waiting_for_plug = authorization
                return
        c = self.connectors[connector]
        if not self._can_authorize(c):
            self._decisions.append(
                AuthorizationRejected(id_tag, "ConnectorNotReady", RefusedBy.NO_CONNECTOR)
            )
            return
        if not self._claim(c, authorization):
            self._decisions.append(AuthorizationRejected(id_tag, "Reserved", RefusedBy.RESERVED))
            return
        self._grant(c, authorization, now)  # tx_points.py: the policy starts the transaction
