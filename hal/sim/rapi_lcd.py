"""The LCD of the simulated OpenEVSE controller (hal/sim/rapi_device.py): 2 × 16 cells,
written by `$FP x y text` as the firmware reads it, and `$F0 0|1` (whose screen it is).

The firmware's reading of a command line is copied here because it limits what a driver
may send: the line (from `$` to the checksum) must fit its 32-byte buffer, it is split at
every space into at most 10 tokens, and FP joins the text tokens back with one space each
(so runs of spaces survive; the `:ss` sequence id is not text).
"""

from __future__ import annotations

BUFFER = 32  # ESRAPI_BUFLEN: '$', the command, its arguments and the terminating NUL
MAX_TOKENS = 10  # ESRAPI_MAX_ARGS
COLUMNS = 16
ROWS = 2
FIRMWARE_SCREEN = ("Ready", "")  # what the firmware shows when it has the screen


def fp_text(line: bytes) -> tuple[int, int, str] | None:
    """(x, y, text) of a `$FP x y text [:ss]^CK` line as the firmware takes it; None when
    the firmware would refuse it (too long, too many tokens, too few)."""
    body = line.split(b"^", 1)[0]
    if len(body) + 1 > BUFFER:  # the firmware drops the line: no reply at all
        return None
    text = body[1:].decode("ascii", "replace")
    tokens = text.split(" ")
    if len(tokens) > MAX_TOKENS:
        return None
    if len(tokens) > 1 and tokens[-1].startswith(":"):
        tokens.pop()
    if len(tokens) < 4:
        return None
    return int(tokens[1]), int(tokens[2]), " ".join(tokens[3:])


class Lcd:
    def __init__(self) -> None:
        self.cells = [[" "] * COLUMNS for _ in range(ROWS)]
        self.firmware = True  # the firmware updates the screen itself
        self.writes = 0

    @property
    def rows(self) -> list[str]:
        """What the screen shows now."""
        if self.firmware:
            return [row.ljust(COLUMNS) for row in FIRMWARE_SCREEN]
        return ["".join(row) for row in self.cells]

    def print(self, x: int, y: int, text: str) -> None:
        if not 0 <= y < ROWS:
            return
        for i, ch in enumerate(text):
            if 0 <= x + i < COLUMNS:
                self.cells[y][x + i] = ch
        self.writes += 1

    def updates(self, on: bool) -> None:
        """`$F0 1`: the firmware redraws its own screen; `$F0 0`: it leaves it alone."""
        self.firmware = on
        if on:
            self.cells = [[" "] * COLUMNS for _ in range(ROWS)]
