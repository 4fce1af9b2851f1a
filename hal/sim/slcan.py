"""A simulated slcan (Lawicel) USB-CAN adapter on a pty, for simulated CAN devices.

A driver in any process opens `port` with python-can's `interface="slcan"`; the frames it
sends go to `on_frame` (the simulated devices behind the adapter), and what those answer
goes back as received frames. Only extended data frames reach the devices: standard and
remote frames are acknowledged and dropped, as nothing behind this adapter uses them.
"""

from __future__ import annotations

from collections.abc import Callable

from hal.sim.pty import PtyLine

OK = b"\r"
ERROR = b"\a"
MAX_BACKLOG = 64 * 1024  # bytes toward nobody reading the pty before we drop them

# (id, data) of one extended frame in -> the (id, data) frames that answer it
FrameHandler = Callable[[int, bytes], list[tuple[int, bytes]]]


class SlcanAdapter:
    def __init__(self, on_frame: FrameHandler) -> None:
        self._on_frame = on_frame
        self._line = PtyLine("simulated slcan adapter", backlog=MAX_BACKLOG)
        self._rx = bytearray()
        self._open = False  # the CAN channel (O/C), not the pty

    @property
    def port(self) -> str:
        """The pty slave path a driver opens (after start())."""
        return self._line.port

    def start(self) -> None:
        self._line.open(self._received)

    def stop(self) -> None:
        self._line.close()

    def _received(self, chunk: bytes) -> None:
        self._rx += chunk
        *lines, rest = self._rx.split(b"\r")
        self._rx = bytearray(rest)
        for line in lines:
            self._line.write(self.command(line.decode("ascii", "replace")))

    def command(self, line: str) -> bytes:
        """What the adapter answers to one command line (without its CR)."""
        line = line.strip("\n")
        if not line:
            return OK
        head = line[0]
        if head in "OL":  # open (L: listen only)
            self._open = True
            return OK
        if head == "C":
            self._open = False
            return OK
        if head in "SsMmZXUQWY":  # bitrate, acceptance filter, timestamps...: accepted
            return OK
        if head in "Vv":
            return f"{head}1013\r".encode()
        if head == "N":
            return b"NSIM0\r"
        if head == "F":
            return b"F00\r"
        if head in "TtRr":
            return self._frame(line)
        return ERROR

    def _frame(self, line: str) -> bytes:
        extended = line[0] in "TR"
        ack = b"Z\r" if extended else b"z\r"
        if not self._open:
            return ERROR
        if line[0] in "Rr":
            return ack  # remote frames mean nothing to the devices
        id_length = 8 if extended else 3
        try:
            can_id = int(line[1 : 1 + id_length], 16)
            dlc = int(line[1 + id_length])
            data = bytes.fromhex(line[2 + id_length : 2 + id_length + 2 * dlc])
        except (ValueError, IndexError):
            return ERROR
        if len(data) != dlc:
            return ERROR
        if not extended:
            return ack
        out = bytearray(ack)
        for reply_id, reply in self._on_frame(can_id, data):
            out += f"T{reply_id:08X}{len(reply)}{reply.hex().upper()}\r".encode()
        return bytes(out)
