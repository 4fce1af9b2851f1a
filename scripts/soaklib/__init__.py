"""The soak of scripts/soak, by concern (the script itself is the CLI):

- daemon.py     the real chargerd as a subprocess: start, kill -9, SIGTERM, control requests
- protocol.py   what differs between OCPP 1.6 and 2.0.1: the CSMS, the station's config,
                the messages the chaos fails and counts, the checks
- sessions.py   the session workers: plug, tag, charge, stop, what they saw
- chaos.py      kills (or power cuts), CSMS outages, dropped connections, failed messages
- soak.py       one soak: start, workers and chaos, the quiet period, the verdict printed
- verdict.py    the verdict's shape and how it is printed; helpers both versions use
- verdict16.py  the ledger checks of a 1.6 soak
- verdict201.py the ledger checks of a 2.0.1 soak

scripts/soak puts the repository root and scripts/ on sys.path before importing this.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATION_ID = "CP-SOAK"
CONNECTORS = (1, 2)
