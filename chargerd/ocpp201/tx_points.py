"""TxCtrlr.TxStartPoint / TxStopPoint as the core's `TxPolicy` (core/tx_policy.py), and the
triggerReason each point gives the TransactionEvent it causes (transactions.py)."""

from __future__ import annotations

from ..core.model import StopReason
from ..core.tx_policy import TxPoint, TxPolicy

# TxStartPoint / TxStopPoint members -> the core's facts
TX_POINTS = {
    "ParkingBayOccupancy": TxPoint.BAY_OCCUPIED,
    "EVConnected": TxPoint.EV_CONNECTED,
    "Authorized": TxPoint.AUTHORIZED,
    "PowerPathClosed": TxPoint.POWER_PATH_CLOSED,
    "EnergyTransfer": TxPoint.ENERGY_FLOWING,
}
# the start point that came last -> triggerReason of the Started event
STARTED_BY = {
    TxPoint.BAY_OCCUPIED: "EVDetected",
    TxPoint.EV_CONNECTED: "CablePluggedIn",
    TxPoint.AUTHORIZED: "Authorized",
    TxPoint.ENERGY_FLOWING: "ChargingStateChanged",
}
# why the driver's authorization ended -> triggerReason of the Updated event
DEAUTHORIZED_BY = {
    StopReason.Local: "StopAuthorized",
    StopReason.Remote: "RemoteStop",
    StopReason.DeAuthorized: "Deauthorized",
    StopReason.EVDisconnected: "EVCommunicationLost",  # StopTxOnEVSideDisconnect
}


def tx_policy(start_points: str, stop_points: str) -> TxPolicy:
    """The core's policy for TxCtrlr.TxStartPoint and TxStopPoint (MemberLists)."""

    def points(members: str) -> frozenset[TxPoint]:
        return frozenset(TX_POINTS[m] for m in members.split(",") if m in TX_POINTS)

    return TxPolicy(start=points(start_points), stop=points(stop_points))
