"""The PN532's host link (NXP UM0701-02 §6.2) without I/O: frames, checksums, the replies
this station uses. Shared by the driver (`hal/drivers/pn532.py`) and the simulator
(`hal/sim/pn532_device.py`).

Normal information frame:

    00 | 00 FF | LEN | LCS | TFI | PD0 .. PDn | DCS | 00
    preamble, start code, LEN = bytes of TFI+data, LEN+LCS ≡ 0, TFI D4 host→PN532 and
    D5 PN532→host, PD0 the command code (the reply's is the command's + 1),
    TFI+PD0+..+PDn+DCS ≡ 0 (mod 256), postamble.

ACK `00 00 FF 00 FF 00` (the PN532 took a command, or the host aborts one), NACK
`00 00 FF FF 00 00` (the host asks for the last reply again), error frame
`00 00 FF 01 FF 7F 81 00` (the PN532 could not read the command). Over HSU a PN532 in
low-power mode wakes on `55 55 00 00 00 ...` (a long preamble) before the next command.
"""

from __future__ import annotations

from dataclasses import dataclass

TFI_HOST = 0xD4  # host → PN532
TFI_PN532 = 0xD5  # PN532 → host
TFI_ERROR = 0x7F  # an application-level error frame

START = b"\x00\xff"
ACK = b"\x00\x00\xff\x00\xff\x00"
NACK = b"\x00\x00\xff\xff\x00\x00"
ERROR_FRAME = b"\x00\x00\xff\x01\xff\x7f\x81\x00"
# 0x55 wakes the HSU; the zeros give the oscillator time before the start code.
WAKE_UP = b"\x55\x55" + bytes(14)

GET_FIRMWARE_VERSION = 0x02
SAM_CONFIGURATION = 0x14
RF_CONFIGURATION = 0x32
IN_LIST_PASSIVE_TARGET = 0x4A

SAM_NORMAL_MODE = 0x01
RF_MAX_RETRIES = 0x05  # RFConfiguration item: MxRtyATR, MxRtyPSL, MxRtyPassiveActivation
BAUD_106_TYPE_A = 0x00  # InListPassiveTarget BrTy: ISO/IEC 14443 type A at 106 kbps
IC_PN532 = 0x32  # GetFirmwareVersion's IC byte
UID_LENGTHS = (4, 7, 10)  # ISO/IEC 14443-3 single, double, triple size NFCID1

MAX_DATA = 254  # a normal frame carries at most 255 bytes with the TFI


class ProtocolError(ValueError):
    """A reply that is well framed but does not say what the command's reply must."""


def frame(tfi: int, data: bytes) -> bytes:
    """A normal information frame carrying `data` (PD0 = the command code)."""
    if not 1 <= len(data) <= MAX_DATA:
        raise ValueError(f"PN532 frame data of {len(data)} bytes; allowed: 1..{MAX_DATA}")
    length = len(data) + 1
    body = bytes([tfi]) + data
    return b"\x00" + START + bytes([length, -length & 0xFF]) + body + bytes([-sum(body) & 0xFF, 0])


def command(code: int, *params: int) -> bytes:
    """A host command frame."""
    return frame(TFI_HOST, bytes([code, *params]))


def reply(code: int, payload: bytes = b"") -> bytes:
    """The PN532's reply frame to command `code`."""
    return frame(TFI_PN532, bytes([code + 1]) + payload)


# --- what arrives --------------------------------------------------------------------


@dataclass(frozen=True)
class Ack:
    pass


@dataclass(frozen=True)
class Nack:
    pass


@dataclass(frozen=True)
class ErrorFrame:
    pass


@dataclass(frozen=True)
class Frame:
    tfi: int
    data: bytes  # PD0 (command or reply code) .. PDn

    @property
    def code(self) -> int:
        return self.data[0]


Item = Ack | Nack | ErrorFrame | Frame


class FrameReader:
    """Bytes in, frames out. Anything that is not a frame is skipped up to the next start
    code: noise, a frame whose LEN and LCS disagree (its start code was a coincidence or
    the length was hit), and a frame whose data checksum fails (counted in `bad_frames`,
    so the reader can ask for it again with a NACK)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.bad_frames = 0  # complete frames with a wrong data checksum
        self.skipped = 0  # bytes that were not part of any frame

    def clear(self) -> None:
        self.skipped += len(self._buffer)
        self._buffer.clear()

    def feed(self, data: bytes) -> list[Item]:
        self._buffer += data
        items: list[Item] = []
        while (item := self._next()) is not None:
            if not isinstance(item, bool):
                items.append(item)
        return items

    def _next(self) -> Item | bool | None:
        """The next item; True when something was skipped (look again); None: need bytes."""
        buffer = self._buffer
        start = buffer.find(START)
        if start < 0:
            keep = 1 if buffer.endswith(b"\x00") else 0  # may be half a start code
            self._drop(len(buffer) - keep)
            return None
        # the preamble (and any zeros a wake-up or a postamble left) is not noise
        self.skipped += len(buffer[:start].rstrip(b"\x00"))
        self._drop(start)
        if len(buffer) < 4:
            return None
        length, checksum = buffer[2], buffer[3]
        if (length, checksum) == (0x00, 0xFF):
            self._drop(4)
            return Ack()
        if (length, checksum) == (0xFF, 0x00):
            self._drop(4)
            return Nack()
        if (length + checksum) & 0xFF or length == 0:  # extended frames are not used here
            self._drop(1, counted=True)
            return True
        end = 4 + length + 1  # TFI + data, then DCS
        if len(buffer) < end:
            return None
        body = bytes(buffer[4 : end - 1])
        if (sum(body) + buffer[end - 1]) & 0xFF:
            self.bad_frames += 1
            self._drop(end, counted=True)
            return True
        self._drop(end)
        if body == bytes([TFI_ERROR]):
            return ErrorFrame()
        if len(body) < 2:  # a TFI with no command code: nothing to act on
            return True
        return Frame(body[0], body[1:])

    def _drop(self, count: int, counted: bool = False) -> None:
        if counted:
            self.skipped += count
        del self._buffer[:count]


# --- the replies this station reads -----------------------------------------------------


@dataclass(frozen=True)
class Firmware:
    ic: int
    version: int
    revision: int
    support: int  # bit 0 ISO 14443 A, bit 1 ISO 14443 B, bit 2 ISO 18092

    def __str__(self) -> str:
        chip = "PN532" if self.ic == IC_PN532 else f"IC 0x{self.ic:02X}"
        return f"{chip} firmware {self.version}.{self.revision}"


def firmware(f: Frame) -> Firmware:
    """GetFirmwareVersion's reply: IC, Ver, Rev, Support."""
    _expect(f, GET_FIRMWARE_VERSION, 5)
    return Firmware(*f.data[1:5])


def first_target_uid(f: Frame) -> bytes | None:
    """InListPassiveTarget (106 kbps type A) reply: the first target's NFCID1, or None
    when no card is in the field.

    NbTg, then per target: Tg, SENS_RES (2), SEL_RES, NFCIDLength, NFCID1, [ATS]."""
    _expect(f, IN_LIST_PASSIVE_TARGET, 2)
    if f.data[1] == 0:
        return None
    if len(f.data) < 7:
        raise ProtocolError(f"InListPassiveTarget reply too short: {f.data.hex(' ')}")
    length = f.data[6]
    uid = f.data[7 : 7 + length]
    if length not in UID_LENGTHS or len(uid) != length:
        raise ProtocolError(f"InListPassiveTarget: NFCID1 of {length} bytes: {f.data.hex(' ')}")
    return bytes(uid)


def target_reply(uid: bytes, sens_res: int = 0x0004, sel_res: int = 0x08) -> bytes:
    """InListPassiveTarget's reply payload for one type A card (for the simulator)."""
    return bytes([1, 1, sens_res >> 8, sens_res & 0xFF, sel_res, len(uid)]) + uid


def _expect(f: Frame, code: int, length: int) -> None:
    if f.tfi != TFI_PN532 or f.code != code + 1 or len(f.data) < length:
        raise ProtocolError(
            f"expected the reply to 0x{code:02X}, got TFI 0x{f.tfi:02X} {f.data.hex(' ')}"
        )


def uid_text(uid: bytes) -> str:
    """The id tag OCPP carries: the UID in upper-case hex, most significant byte first
    as the card sends it (e.g. 04A224B2C53F80)."""
    return uid.hex().upper()
