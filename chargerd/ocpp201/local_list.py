"""The Local Authorization List (OCPP 2.0.1 D01-D02), kept in its own table of the store.

SendLocalList replaces it (Full) or changes it (Differential) in one SQLite transaction,
with the version number beside it in the store's meta table, so a power cut never leaves a
half-applied list. Id tokens compare without regard to case, like the core's id tags.
"""

from __future__ import annotations

from typing import Any

from ..core.model import AuthInfo, AuthStatus
from ..store import Store
from .payloads import AUTH_STATUSES, parse_timestamp

SCHEMA = """
CREATE TABLE IF NOT EXISTS ocpp201_local_list (
    id_token TEXT PRIMARY KEY,     -- casefolded
    token TEXT NOT NULL,           -- as the CSMS wrote it
    token_type TEXT NOT NULL,
    status TEXT NOT NULL,          -- AuthorizationStatusEnumType
    expires_at REAL,
    group_id TEXT
);
"""
VERSION_KEY = "ocpp201.local_list_version"


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

    def lookup(self, token: str) -> tuple[AuthInfo, str] | None:
        """(what the list says of `token`, its IdTokenEnumType), or None if not listed."""
        row = self.db.execute(
            "SELECT status, expires_at, group_id, token_type FROM ocpp201_local_list"
            " WHERE id_token=?",
            (token.casefold(),),
        ).fetchone()
        if row is None:
            return None
        status = AuthStatus(row[0]) if row[0] in AUTH_STATUSES else AuthStatus.Invalid
        return AuthInfo(status, row[1], row[2]), row[3]

    def update(self, version: int, update_type: str, entries: list[dict[str, Any]]) -> str:
        """Apply a SendLocalList; its SendLocalListStatusEnumType answer."""
        if update_type == "Differential" and version <= self.version:
            return "VersionMismatch"
        statements: list[tuple[str, tuple[Any, ...]]] = []
        if update_type == "Full":
            statements.append(("DELETE FROM ocpp201_local_list", ()))
        for entry in entries:
            token = entry["idToken"]
            info = entry.get("idTokenInfo")
            key = token["idToken"].casefold()
            if info is None:
                if update_type == "Full":
                    return "Failed"  # a full list names what each token may do
                statements.append(("DELETE FROM ocpp201_local_list WHERE id_token=?", (key,)))
                continue
            group = info.get("groupIdToken")
            statements.append(
                (
                    "INSERT OR REPLACE INTO ocpp201_local_list VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        key,
                        token["idToken"],
                        token["type"],
                        info["status"],
                        parse_timestamp(info.get("cacheExpiryDateTime")),
                        group.get("idToken") if isinstance(group, dict) else None,
                    ),
                )
            )
        statements.append(
            ("INSERT OR REPLACE INTO meta VALUES (?, ?)", (VERSION_KEY, str(version)))
        )
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for sql, args in statements:
                self.db.execute(sql, args)
        return "Accepted"
