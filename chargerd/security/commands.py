"""`chargerctl certs [--json]`: the certificate store as a technician sees it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..daemon import Daemon


def listing(daemon: Daemon) -> list[dict[str, Any]]:
    part: Any = daemon.parts["security"]
    return [
        {
            "type": c.cert_type,
            "subject": c.subject,
            "not_after": c.not_after.isoformat().replace("+00:00", "Z"),
            "source": c.source,
            "hash": c.hash.to_wire(),
            "children": [h.to_wire() for h in c.children],
        }
        for c in part.certs.installed()
    ]


async def certs(daemon: Daemon, args: list[str]) -> str:
    if args not in ([], ["--json"]):
        raise ValueError("usage: certs [--json]")
    entries = listing(daemon)
    if args:
        return json.dumps(entries, indent=2)
    if not entries:
        return "no certificates installed (csms.ca_file, InstallCertificate, CertificateSigned)"
    lines = []
    for e in entries:
        h = e["hash"]
        lines.append(f"{e['type']}: {e['subject']} (until {e['not_after']}, {e['source']})")
        lines.append(f"  serial {h['serialNumber']}  issuerNameHash {h['issuerNameHash'][:16]}…"
                     f"  issuerKeyHash {h['issuerKeyHash'][:16]}…")  # fmt: skip
    return "\n".join(lines)
