"""The Local Authorization List (OCPP 1.6 Local Auth List Management, 2.0.1 D01-D02), one
store for both versions; the core's authorization rules read it (`LocalList.info`).

SendLocalList replaces the list (Full) or changes it (Differential) in one SQLite
transaction, with the version number beside it in the store's meta table, so a power cut
never leaves a half-applied list. Id tags compare without regard to case, like the core's.
The adapters turn their version's entries into `ListEntry`s and its answer names.

The table and the version's meta key keep the names they had when only 2.0.1 had a list:
a station's list survives the upgrade.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .core.authorization import tag_key
from .core.model import AuthInfo, AuthStatus
from .store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS ocpp201_local_list (
    id_token TEXT PRIMARY KEY,     -- casefolded
    token TEXT NOT NULL,           -- as the CSMS wrote it
    token_type TEXT NOT NULL,      -- 2.0.1 IdTokenEnumType (1.6: ISO14443)
    status TEXT NOT NULL,          -- AuthorizationStatus
    expires_at REAL,
    group_id TEXT                  -- 1.6 parentIdTag, 2.0.1 groupIdToken
);
"""
VERSION_KEY = "ocpp201.local_list_version"
CARD = "ISO14443"  # the token type of a card at the reader, for lists that name none


@dataclass(frozen=True)
class ListEntry:
    """One entry of a SendLocalList: `info` None removes the id tag (Differential only)."""

    id_tag: str
    info: AuthInfo | None
    token_type: str = CARD


class UpdateStatus(StrEnum):
    Accepted = "Accepted"
    Failed = "Failed"
    VersionMismatch = "VersionMismatch"


class LocalList:
    def __init__(self, store: Store):
        self.db = store.db
        self.store = store
        self.db.executescript(SCHEMA)

    @property
    def version(self) -> int:
        return int(self.store.get_meta(VERSION_KEY) or 0)

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM ocpp201_local_list").fetchone()[0]

    def lookup(self, id_tag: str) -> tuple[AuthInfo, str] | None:
        """(what the list says of `id_tag`, its token type), or None if not listed."""
        row = self.db.execute(
            "SELECT status, expires_at, group_id, token_type FROM ocpp201_local_list"
            " WHERE id_token=?",
            (tag_key(id_tag),),
        ).fetchone()
        if row is None:
            return None
        # a status the core does not know (2.0.1 NoCredit, ...) refuses like Invalid
        status = AuthStatus(row[0]) if row[0] in AuthStatus.__members__ else AuthStatus.Invalid
        return AuthInfo(status, row[1], row[2]), row[3]

    def info(self, id_tag: str) -> AuthInfo | None:
        """The core's local-list source: what the list says of `id_tag`, or None."""
        listed = self.lookup(id_tag)
        return listed[0] if listed is not None else None

    def update(
        self, version: int, full: bool, entries: list[ListEntry], max_length: int | None = None
    ) -> UpdateStatus:
        """Apply a SendLocalList. Differential needs a version above the current one; a list
        that would hold more than `max_length` id tags is refused whole (Failed)."""
        if not full and version <= self.version:
            return UpdateStatus.VersionMismatch
        keys = [tag_key(e.id_tag) for e in entries]
        if len(set(keys)) != len(keys):
            return UpdateStatus.Failed  # each id tag at most once in a list
        if full and any(e.info is None for e in entries):
            return UpdateStatus.Failed  # a full list names what each tag may do
        if max_length is not None:
            held = set() if full else self._keys()
            for key, entry in zip(keys, entries, strict=True):
                if entry.info is None:
                    held.discard(key)
                else:
                    held.add(key)
            if len(held) > max_length:
                return UpdateStatus.Failed
        statements: list[tuple[str, tuple[object, ...]]] = []
        if full:
            statements.append(("DELETE FROM ocpp201_local_list", ()))
        for key, entry in zip(keys, entries, strict=True):
            info = entry.info
            if info is None:
                statements.append(("DELETE FROM ocpp201_local_list WHERE id_token=?", (key,)))
                continue
            row = (key, entry.id_tag, entry.token_type, str(info.status), info.expires_at,
                   info.parent_id)  # fmt: skip
            statements.append(
                ("INSERT OR REPLACE INTO ocpp201_local_list VALUES (?, ?, ?, ?, ?, ?)", row)
            )
        statements.append(
            ("INSERT OR REPLACE INTO meta VALUES (?, ?)", (VERSION_KEY, str(version)))
        )
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for sql, args in statements:
                self.db.execute(sql, args)
        return UpdateStatus.Accepted

    def _keys(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT id_token FROM ocpp201_local_list")}
