"""Development CSMSes: strict OCPP 1.6J and 2.0.1 Central Systems for tests, the demo and
the lab, on the server side of the `ocpp` package, with a ledger that checks the station.

The daemon never imports this package; only `chargerd demo` (the CLI entry point) does.

- frames.py    how payloads are printed, compared and their timestamps checked
- ledger.py    what a CSMS saw (entries, violations, registration) and its queries
- handshake.py the websocket opening handshake: station id, subprotocols, Basic auth
- outgoing.py  the CALLs a CSMS sends to a station and the answers it waits for
- session.py   one connected station, recorded and checked alike for both versions
- recording.py what a CSMS saw into the ledger and the log; the waits of tests on it
- server.py    the websocket server, subprotocol choice, connections, knobs
- v16.py       `Csms`: the 1.6J handlers, transaction records and their checks
- v201.py      `Csms201`: the 2.0.1 handlers, TransactionEvent/seqNo records and checks
- cli.py       `scripts/dev-csms` / `python -m devcsms`
- demo.py      `chargerd demo`: a simulated station and a CSMS play one charging session
               (demo_sessions.py the session of each version, narration.py the lines shown)

Everything logs to the `chargerd.csms` logger (its name from before the move, which the
soak and bench scripts set), the `ocpp` package's own lines to `chargerd.csms.ocpp`.
"""

from .handshake import Handshake
from .ledger import Ledger, LedgerEntry
from .outgoing import CallErrorReceived
from .server import FAIL_MODES, CsmsServer
from .v16 import Csms, Ledger16, TxRecord
from .v201 import Csms201, Ledger201, Tx201

__all__ = [
    "FAIL_MODES",
    "CallErrorReceived",
    "Csms",
    "Csms201",
    "CsmsServer",
    "Handshake",
    "Ledger",
    "Ledger16",
    "Ledger201",
    "LedgerEntry",
    "Tx201",
    "TxRecord",
]
