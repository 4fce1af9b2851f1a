"""OCPP 1.6 Local Auth List Management (§5.10 GetLocalListVersion, §5.15 SendLocalList) on
the station's one local list (chargerd/local_list.py); the core's rules use it.

Answers: NotSupported while LocalAuthListEnabled is false (and GetLocalListVersion -1, as
for a station without lists); Failed for a list longer than SendLocalListMaxLength, or one
that would leave more than LocalAuthListMaxLength id tags; VersionMismatch for a
Differential update whose version is not above the list's.
"""

from __future__ import annotations

import logging
from typing import Any

from ..local_list import ListEntry, LocalList
from .payloads import auth_info

log = logging.getLogger("chargerd.ocpp16")

LOCAL_AUTH_LIST_MAX_LENGTH = 1000  # id tags the list may hold
SEND_LOCAL_LIST_MAX_LENGTH = 100  # entries in one SendLocalList.req
DISABLED_VERSION = -1  # GetLocalListVersion while the list is off: "not supported"


def send_local_list(local_list: LocalList, enabled: bool, p: dict[str, Any]) -> dict[str, str]:
    """The SendLocalList.conf for `p`, the list updated when Accepted."""
    entries = p.get("localAuthorizationList") or []
    version, update_type = p["listVersion"], p["updateType"]
    if not enabled:
        status = "NotSupported"
    elif len(entries) > SEND_LOCAL_LIST_MAX_LENGTH:
        status = "Failed"
    else:
        listed = [
            ListEntry(e["idTag"], auth_info(e["idTagInfo"]) if "idTagInfo" in e else None)
            for e in entries
        ]
        status = str(
            local_list.update(version, update_type == "Full", listed, LOCAL_AUTH_LIST_MAX_LENGTH)
        )
    log.info("SendLocalList %s version %d (%d entries): %s",
             update_type, version, len(entries), status)  # fmt: skip
    return {"status": status}


def get_local_list_version(local_list: LocalList, enabled: bool) -> dict[str, int]:
    """The GetLocalListVersion.conf: 0 while the list is empty (§5.10), -1 while disabled."""
    if not enabled:
        return {"listVersion": DISABLED_VERSION}
    return {"listVersion": local_list.version if len(local_list) else 0}
