"""The kinds of display messages (OCPP 2.0.1 MessagePriorityEnumType, MessageStateEnumType,
MessageFormatEnumType): shared by the board (messages.py) and the device model's
DisplayMessageCtrlr variables, which are read at every 2.0.1 start while the board is not."""

from __future__ import annotations

from enum import StrEnum


class Priority(StrEnum):
    AlwaysFront = "AlwaysFront"
    InFront = "InFront"
    NormalCycle = "NormalCycle"


class State(StrEnum):
    """MessageStateEnumType: the connector states a message may be limited to."""

    Charging = "Charging"
    Faulted = "Faulted"
    Idle = "Idle"
    Unavailable = "Unavailable"


# Formats a text screen can show: URI is shown as its text; HTML would need a browser.
FORMATS = ("ASCII", "UTF8", "URI")
