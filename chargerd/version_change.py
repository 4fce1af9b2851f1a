"""A change of `csms.ocpp_version` while the outbox still holds messages of the other version.

Queued messages are wire payloads of the version that wrote them: a 1.6 StartTransaction sent
to a 2.0.1 CSMS is refused, retried, and dropped — the transaction is lost without anyone
deciding so. So at start-up the daemon compares the version the queue was written under
(`meta.outbox_ocpp_version`, recorded at every start; for databases from before that, guessed
from the queued actions) with the configured one, and refuses to start on a mismatch until the
technician either runs the old version once more until the queue is empty, or discards the
queue knowingly (`chargerd run --drop-queue`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from .store import Store
from .store_schema import SchemaTooNew

log = logging.getLogger("chargerd")

VERSION_KEY = "outbox_ocpp_version"  # store meta: the OCPP version of the queued messages
# Messages only one version queues, for databases that do not record the version yet.
ACTIONS = {
    "StartTransaction": "1.6",
    "StopTransaction": "1.6",
    "MeterValues": "1.6",
    "TransactionEvent": "2.0.1",
    "SecurityEventNotification": "2.0.1",
}


@dataclass(frozen=True)
class Leftovers:
    """What a previous run under `version` left for the CSMS."""

    version: str
    messages: int
    open_transactions: int

    def describe(self) -> str:
        text = f"{self.messages} queued message{'s' if self.messages != 1 else ''}"
        if self.open_transactions:
            text += f" and {self.open_transactions} open transaction"
            text += "s" if self.open_transactions != 1 else ""
        return text


def queued_version(store: Store) -> str | None:
    """The OCPP version the queue and open transactions were written under (None: unknown)."""
    recorded = store.get_meta(VERSION_KEY)
    if recorded:
        return recorded
    for (action,) in store.db.execute("SELECT DISTINCT action FROM outbox"):
        if action in ACTIONS:
            return ACTIONS[action]
    return None


def leftovers(store: Store, configured: str) -> Leftovers | None:
    """Messages and open transactions of another OCPP version than `configured`, if any."""
    version = queued_version(store)
    if version is None or version == configured:
        return None
    messages = store.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    open_transactions = store.db.execute(
        "SELECT COUNT(*) FROM transactions WHERE ended=0"
    ).fetchone()[0]
    if not messages and not open_transactions:
        return None
    return Leftovers(version, messages, open_transactions)


def refusal(found: Leftovers, configured: str) -> str:
    """Why the daemon does not start, and the two ways out."""
    return (
        f"the outbox holds {found.describe()} written under OCPP {found.version}, but "
        f"csms.ocpp_version is {configured}: a {configured} CSMS would refuse them and they "
        f"would be lost. Start once more with csms.ocpp_version {found.version} (e.g. "
        f"--set csms.ocpp_version={found.version}) until `chargerctl status` shows the outbox "
        "empty, or run `chargerd run --drop-queue` to discard them knowingly"
    )


def drop(store: Store, found: Leftovers) -> None:
    """Discard the old version's queue and transactions (their records go with them)."""
    with store.db:
        store.db.execute("BEGIN IMMEDIATE")
        store.db.execute("DELETE FROM outbox")
        store.db.execute("DELETE FROM transactions")
    store.outbox_bytes = 0
    log.warning(
        "--drop-queue: discarded %s of OCPP %s; the CSMS will never receive them",
        found.describe(), found.version,
    )  # fmt: skip


def check(store: Store, configured: str, drop_queue: bool) -> str | None:
    """At start-up: why the daemon must not start, or None. Records `configured` as the
    version of whatever is queued from now on."""
    found = leftovers(store, configured)
    if found is not None:
        if not drop_queue:
            return refusal(found, configured)
        drop(store, found)
    elif drop_queue:
        log.info("--drop-queue: nothing to drop (no messages of another OCPP version queued)")
    if store.get_meta(VERSION_KEY) != configured:
        store.set_meta(VERSION_KEY, configured)
    return None


def check_storage(directory: Path, configured: str, drop_queue: bool) -> str | None:
    """Open the store once before the station does: None if the daemon may start, else why
    not (a database of a newer chargerd, or a queue of the other OCPP version)."""
    try:
        store = Store(directory)
    except SchemaTooNew as exc:
        return str(exc)
    try:
        return check(store, configured, drop_queue)
    finally:
        store.close()
