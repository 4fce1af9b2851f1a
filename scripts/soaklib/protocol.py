"""What differs between a 1.6 and a 2.0.1 soak: the CSMS, the `ocpp:` block of the
station's config, the CSMS CALLs the chaos fails, the transaction messages a cut mid-replay
waits for, and the checks. Everything else (the daemon, the sessions, the chaos, the quiet
period) is the same for both.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devcsms import Csms, Csms201, CsmsServer

from . import verdict16, verdict201
from .verdict import Outcome, Verdict


@dataclass(frozen=True)
class Protocol:
    version: str  # csms.ocpp_version
    csms: Callable[[], CsmsServer]
    ocpp: Callable[[random.Random], dict[str, Any]]  # the config's ocpp: block
    fail_actions: tuple[str, ...]  # CALLs the chaos makes the CSMS fail (fail_next)
    tx_actions: tuple[str, ...]  # the transaction messages
    verdict: Callable[[Outcome], Verdict]


def _ocpp16(rng: random.Random) -> dict[str, Any]:
    return {
        "MeterValueSampleInterval": rng.choice([1, 2]),
        "TransactionMessageRetryInterval": 1,
        "TransactionMessageAttempts": 20,
        "HeartbeatInterval": 300,
        "LocalAuthorizeOffline": True,
        "AllowOfflineTxForUnknownId": True,  # every tag is new: start offline too
        "StopTxnSampledData": "Energy.Active.Import.Register",
    }


def _ocpp201(rng: random.Random) -> dict[str, Any]:
    return {
        "OCPPCommCtrlr": {
            "HeartbeatInterval": 300,
            "MessageAttemptInterval:TransactionEvent": 1,
            "MessageAttempts:TransactionEvent": 20,
        },
        "SampledDataCtrlr": {
            "TxUpdatedInterval": rng.choice([1, 2]),
            "TxEndedMeasurands": "Energy.Active.Import.Register",
        },
        "AuthCtrlr": {
            "LocalAuthorizeOffline": True,
            "OfflineTxForUnknownIdEnabled": True,  # every token is new: start offline too
        },
    }


TX16 = ("StartTransaction", "StopTransaction", "MeterValues")

PROTOCOLS = {
    "1.6": Protocol("1.6", lambda: Csms(close_timeout=0.5), _ocpp16, TX16, TX16, verdict16.verdict),
    "2.0.1": Protocol(
        "2.0.1",
        lambda: Csms201(close_timeout=0.5),
        _ocpp201,
        ("TransactionEvent",),
        ("TransactionEvent",),
        verdict201.verdict,
    ),
}
