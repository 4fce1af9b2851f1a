"""The Mennekes cable lock of a simulated OpenEVSE (`$G5` / `$S5`), as the firmware has it:
automatic mode after every boot; `S5 M` selects manual mode, and only then do `S5 1` /
`S5 0` move the lock. A J1772 build has no lock: both commands are refused."""

from __future__ import annotations

from collections.abc import Sequence


class CableLock:
    def __init__(self, present: bool) -> None:
        self.present = present
        self.manual = False
        self.wanted: bool | None = None  # the position last asked for in manual mode

    def state(self, locked: bool) -> str:
        """The `$G5` reply text: the position and the mode."""
        return f"{'1' if locked else '0'} {'M' if self.manual else 'A'}"

    def command(self, args: Sequence[str]) -> bool:
        """`$S5 A|M|0|1`; whether the firmware takes it."""
        arg = args[0] if args else ""
        if not self.present or arg not in ("A", "M", "0", "1"):
            return False
        if arg in ("A", "M"):
            self.manual = arg == "M"
            return True
        if not self.manual:
            return False  # 0/1 only in manual mode
        self.wanted = arg == "1"
        return True

    def reboot(self) -> None:
        """Manual mode is not saved: the firmware boots in automatic mode."""
        self.manual = False
