"""OpenEVSE RAPI over a serial port: the EVSE controller (pilot, offer, relay) of one connector.

The wire protocol (frames, state codes, fault table) is in hal/drivers/rapi_protocol.py;
`RapiController` here is the I/O around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading

import serial

from hal.drivers.rapi_protocol import (
    CODE_BY_PILOT,
    FAULT_BY_STATE,
    HEARTBEAT_ACK_COOKIE,
    MIN_OFFER_A,
    PILOT_BY_CODE,
    FrameError,
    RapiFrame,
    frame,
    parse,
)
from hal.interfaces import (
    DeviceError,
    EventSink,
    FaultCleared,
    FaultCode,
    FaultRaised,
    HalEvent,
    PilotChanged,
    PilotState,
)

log = logging.getLogger(__name__)

# --- the driver ---------------------------------------------------------------------------

FAILURES_BEFORE_FAULT = 3  # unanswered requests in a row before the controller counts as gone
HEARTBEAT_POLLS = 3  # the firmware falls back after this many poll intervals without a pulse
READ_SLICE_S = 0.1  # the reader thread checks for stop() this often
MAX_LINE = 256  # longer without CR is noise


class RapiController:
    """EvseController of one connector behind an OpenEVSE controller speaking RAPI.

    - Pilot changes come from the controller's `$AT` notifications (the pilot field, which
      reads A/B/C also while the controller sleeps); `GS` every `poll_interval_s` only
      resynchronises. Each state is emitted once. Fault evsestates raise the fault of
      `FAULT_BY_STATE` and clear it when left. `$AB` (the controller rebooted) re-applies
      the offer. A port that fails, or FAILURES_BEFORE_FAULT unanswered requests in a row,
      raise InternalError; the port is reopened until the controller answers again.
    - The offer: ≥ 6 A → `$SC amps V` (volatile) + `$FE`; less → `$FS` (sleep: the EV is
      held off, the state after start()). The controller closes its relay itself in C.
    - Heartbeat supervision (`$SY`), when the firmware has it: pulsed with every poll; if
      the pulses stop, the firmware drops the offer to its 6 A minimum. It cannot stop the
      charge: RAPI has no fallback to sleep.
    - Cable lock: the Mennekes lock (`$S5`) when `$G5` answers; else there is no lock to
      move (tethered cable) and set_lock() reports success.

    Serial reads run in a thread that hands lines to the loop; writes run in the executor.
    One request is outstanding at a time.
    """

    def __init__(
        self,
        connector: int,
        *,
        port: str,
        baudrate: int = 115200,
        timeout_s: float = 1.0,
        max_current_a: float = 32.0,
        poll_interval_s: float = 5.0,
    ) -> None:
        self.connector = connector
        self.port = port
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self.max_current_a = max_current_a
        self.poll_interval_s = poll_interval_s
        self._emit: EventSink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._serial: serial.Serial | None = None
        self._reader: threading.Thread | None = None
        self._reader_stop = threading.Event()
        self._port_broken = False
        self._request_lock = asyncio.Lock()
        self._apply_lock = asyncio.Lock()
        self._pending: tuple[int, asyncio.Future[RapiFrame]] | None = None
        self._seq = 0
        self._supervisor: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._due = 0.0  # loop time of the next poll
        self._stopping = False
        # What the daemon wants; what was last applied (None: unknown, apply again).
        self._offer_a = 0.0
        self._held_off = False
        self._applied: tuple[str, int] | None = None
        self._offered_a = 0.0
        self._locked = False
        self._has_lock: bool | None = None
        self._heartbeat: bool | None = None
        # What the controller last reported.
        self._pilot: PilotState | None = None
        self._evse_state: int | None = None
        self._evse_fault: FaultCode | None = None
        # Link health.
        self._failures = 0
        self._link_fault = False
        self._resync_needed = False
        self.bad_frames = 0
        self.stale_replies = 0

    # --- what the controller reports ----------------------------------------------------

    @property
    def pilot(self) -> PilotState | None:
        return self._pilot

    @property
    def evse_state(self) -> int | None:
        return self._evse_state

    @property
    def offered_a(self) -> float:
        """The pilot current the controller confirmed (after its own clamping); 0 asleep."""
        return self._offered_a

    @property
    def heartbeat(self) -> bool | None:
        """Whether the firmware supervises our heartbeat (None: not known yet)."""
        return self._heartbeat

    # --- EvseController -----------------------------------------------------------------

    async def start(self, emit: EventSink) -> None:
        """Open the port, put the controller to sleep, read and report the pilot.

        A missing or silent controller does not fail start(): InternalError is raised
        through `emit` and the port is retried in the background."""
        self._emit = emit
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        if await self._open():
            try:
                await self._resync()
            except DeviceError as exc:
                log.warning("connector %d: EVSE controller at start: %s", self.connector, exc)
        self._supervisor = asyncio.create_task(
            self._supervise(), name=f"rapi-supervisor-{self.connector}"
        )

    async def stop(self) -> None:
        """Stop polling, join the reader thread, close the port. Sends nothing: offer 0
        first to leave the controller asleep."""
        self._stopping = True
        task, self._supervisor = self._supervisor, None
        if task is not None:
            task.cancel()
            # Bounded: stop() must return even if the task got stuck somewhere.
            await asyncio.wait({task}, timeout=self.timeout_s + 1.0)
        await self._close()  # a request still running fails with DeviceError
        self._emit = None

    async def offer_current(self, amps: float) -> None:
        """≥ 6 A: `$SC amps V` then `$FE`; below 6 A (0 included): `$FS`, the EV held off."""
        if amps < 0:
            raise ValueError(f"connector {self.connector}: cannot offer {amps} A")
        if amps > self.max_current_a:
            log.warning(
                "connector %d: offer %.1f A above max_current_a, offering %.1f A",
                self.connector, amps, self.max_current_a,
            )  # fmt: skip
            amps = self.max_current_a
        self._offer_a = float(amps)
        self._held_off = False
        await self._apply_offer()

    async def set_contactor(self, closed: bool) -> None:
        """RAPI has no relay command: the controller closes its relay itself in state C
        while enabled. Opening while the EV draws puts the controller to sleep (`$FS`);
        closing, or a new offer, enables it again."""
        if closed:
            if self._held_off:
                self._held_off = False
                await self._apply_offer()
        elif self._pilot in (PilotState.C, PilotState.D) and self._applied != ("sleep", 0):
            self._held_off = True
            await self._apply_offer()

    async def set_lock(self, locked: bool) -> bool:
        """Move the Mennekes cable lock (`$S5 1` / `$S5 0`, manual mode); True when the
        controller took the command (RAPI reports no lock position sensor).

        Without a lock (`$G5` answers NK: a tethered cable) there is nothing to move and
        the answer is True. (`$S4` is not a cable lock: it is the authorization lock.)"""
        self._locked = locked
        if self._has_lock is None:
            await self._probe_lock()
        if not self._has_lock:
            return True
        reply = await self.request(f"S5 {1 if locked else 0}")
        if not reply.ok:
            log.warning("connector %d: the controller refused to move the lock", self.connector)
        return reply.ok

    # --- requests -----------------------------------------------------------------------

    async def request(self, command: str) -> RapiFrame:
        """Send one command and return the controller's reply (`$OK` or `$NK`).

        Raises DeviceError when the port is closed, fails, or no reply with our sequence
        id arrives within timeout_s."""
        loop = asyncio.get_running_loop()
        async with self._request_lock:
            port = self._serial
            if port is None or self._port_broken:
                raise DeviceError(f"EVSE controller on {self.port}: port not open")
            self._seq = self._seq % 0xFE + 1
            seq = self._seq
            future: asyncio.Future[RapiFrame] = loop.create_future()
            self._pending = (seq, future)
            try:
                await loop.run_in_executor(None, self._write, port, frame(command, seq))
                async with asyncio.timeout(self.timeout_s):
                    reply = await future
            except TimeoutError:  # before OSError: TimeoutError is one
                self._note_failure()
                raise DeviceError(
                    f"EVSE controller on {self.port}: no answer to {command!r}"
                    f" within {self.timeout_s} s"
                ) from None
            except (serial.SerialException, OSError) as exc:
                self._on_port_failed(port, exc)
                raise DeviceError(f"EVSE controller on {self.port}: {exc}") from exc
            finally:
                self._pending = None
        self._note_answer()
        return reply

    async def _expect_ok(self, command: str) -> RapiFrame:
        reply = await self.request(command)
        if not reply.ok:
            raise DeviceError(f"EVSE controller refused {command!r}: {reply}")
        return reply

    @staticmethod
    def _write(port: serial.Serial, data: bytes) -> None:
        port.write(data)
        port.flush()

    # --- applying what the daemon wants ---------------------------------------------------

    async def _apply_offer(self) -> None:
        async with self._apply_lock:
            amps = math.floor(self._offer_a)
            enable = amps >= MIN_OFFER_A and not self._held_off
            target = ("enable", amps) if enable else ("sleep", 0)
            if target == self._applied:
                return
            self._applied = None  # half-applied counts as unknown
            if target[0] == "enable":
                reply = await self.request(f"SC {amps} V")
                granted = _int_arg(reply, 0, 10)
                if granted is None:
                    raise DeviceError(f"EVSE controller refused an offer of {amps} A: {reply}")
                if not reply.ok:
                    log.warning(
                        "connector %d: the controller clamped the offer of %d A to %d A",
                        self.connector, amps, granted,
                    )  # fmt: skip
                self._offered_a = float(granted)
                await self._expect_ok("FE")
            else:
                await self._expect_ok("FS")
                self._offered_a = 0.0
            self._applied = target

    async def _probe_lock(self) -> None:
        self._has_lock = (await self.request("G5")).ok
        if self._has_lock:
            await self._expect_ok("S5 M")  # manual mode: the daemon decides; volatile

    async def _setup_heartbeat(self) -> None:
        if self._heartbeat is False:
            return
        interval = max(1, math.ceil(self.poll_interval_s * HEARTBEAT_POLLS))
        reply = await self.request(f"SY {interval} {MIN_OFFER_A}")
        if self._heartbeat is None:
            log.info(
                "connector %d: heartbeat supervision %s",
                self.connector, f"every {interval} s" if reply.ok else "not in this firmware",
            )  # fmt: skip
        self._heartbeat = reply.ok

    async def _pulse_heartbeat(self) -> None:
        if not self._heartbeat:
            return
        if (await self.request("SY")).ok:
            return
        # NK: the firmware missed a pulse and fell back to its minimum current.
        log.warning("connector %d: the controller missed a heartbeat; restoring", self.connector)
        await self.request(f"SY {HEARTBEAT_ACK_COOKIE}")
        self._applied = None
        await self._apply_offer()

    async def _read_state(self) -> None:
        reply = await self._expect_ok("GS")
        evse = _int_arg(reply, 0, 16)
        if evse is None:
            raise DeviceError(f"EVSE controller: nonsense state {reply}")
        pilot = _int_arg(reply, 2, 16)
        if pilot is None and evse not in PILOT_BY_CODE:
            # Firmware before RAPI 5 has no pilot field in GS: ask whether an EV is there.
            connected = _int_arg(await self._expect_ok("G0"), 0, 10)  # 2: unknown
            pilot = {0: CODE_BY_PILOT[PilotState.A], 1: CODE_BY_PILOT[PilotState.B]}.get(
                connected if connected is not None else 2
            )
        self._apply_state(evse, pilot)

    async def _resync(self) -> None:
        """Tell a (re)started or (re)found controller what we want; read what it is."""
        # Cleared first: a reboot announced meanwhile asks for one more round.
        self._resync_needed = False
        self._applied = None
        try:
            await self._setup_heartbeat()
            if self._has_lock is None:
                await self._probe_lock()
            elif self._has_lock:
                await self._expect_ok("S5 M")
                await self._expect_ok(f"S5 {1 if self._locked else 0}")
            await self._apply_offer()
            await self._read_state()
        except DeviceError:
            self._resync_needed = True
            raise

    # --- what the controller says -------------------------------------------------------

    def _on_line(self, line: bytes) -> None:
        start = line.rfind(b"$")
        if start < 0:
            if line.strip():
                self._bad_frame(line, "no frame")
            return
        if start > 0:
            self._bad_frame(line[:start], "noise before a frame")
        try:
            f = parse(line[start:])
        except FrameError as exc:
            self._bad_frame(line, str(exc))
            return
        if f.is_reply:
            if self._pending is not None and self._pending[0] == f.seq:
                if not self._pending[1].done():
                    self._pending[1].set_result(f)
            else:
                self.stale_replies += 1
                log.debug("connector %d: RAPI reply to no pending request: %s", self.connector, f)
            return
        try:
            if f.command == "AT":
                self._apply_state(int(f.args[0], 16), int(f.args[1], 16))
            elif f.command == "ST":  # before RAPI 4: the evsestate only
                self._apply_state(int(f.args[0], 16), None)
            elif f.command == "AB":
                log.warning(
                    "connector %d: the EVSE controller restarted (post code %s, firmware %s)",
                    self.connector, f.args[0], " ".join(f.args[1:]),
                )  # fmt: skip
                self._applied = None
                self._resync_needed = True
                self._wake.set()
            else:
                log.debug("connector %d: RAPI notification ignored: %s", self.connector, f)
        except (IndexError, ValueError):
            self._bad_frame(line, "malformed notification")

    def _bad_frame(self, data: bytes, why: str) -> None:
        self.bad_frames += 1
        log.debug("connector %d: RAPI: dropped %r (%s)", self.connector, data, why)

    def _apply_state(self, evse: int, pilot_code: int | None) -> None:
        self._evse_state = evse
        fault = FAULT_BY_STATE.get(evse)
        code = fault.code if fault else None
        if code != self._evse_fault:
            if self._evse_fault is not None:
                self._send(FaultCleared(self.connector, self._evse_fault))
            if fault is not None:
                info = f"EVSE controller state {evse:02X}: {fault.description}"
                self._send(FaultRaised(self.connector, fault.code, info))
            self._evse_fault = code
        pilot = PILOT_BY_CODE.get(pilot_code if pilot_code is not None else evse)
        if pilot is not None and pilot != self._pilot:
            self._pilot = pilot
            self._send(PilotChanged(self.connector, pilot))

    def _send(self, event: HalEvent) -> None:
        if self._emit is not None:
            self._emit(event)

    # --- link health --------------------------------------------------------------------

    def _note_answer(self) -> None:
        self._failures = 0
        if self._link_fault:
            self._link_fault = False
            log.warning("connector %d: EVSE controller answers again", self.connector)
            self._send(FaultCleared(self.connector, FaultCode.InternalError))
            # It may have lost our settings (or rebooted) meanwhile.
            self._resync_needed = True
            self._wake.set()

    def _note_failure(self, *, reason: str = "", at_once: bool = False) -> None:
        self._failures += 1
        self._applied = None
        if self._loop is not None:  # look again soon, not after a whole poll interval
            self._due = min(self._due, self._loop.time() + self.timeout_s)
            self._wake.set()
        if self._link_fault or not (at_once or self._failures >= FAILURES_BEFORE_FAULT):
            return
        self._link_fault = True
        info = "EVSE controller not answering" + (f": {reason}" if reason else "")
        log.error("connector %d: %s on %s", self.connector, info, self.port)
        self._send(FaultRaised(self.connector, FaultCode.InternalError, info))

    def _urgent(self) -> bool:
        """Something to do before the next poll is due (while failing, retries keep pace)."""
        if self._failures:
            return False
        return self._resync_needed or self._serial is None or self._port_broken

    async def _supervise(self) -> None:
        """Poll every poll_interval_s; every timeout_s while requests fail; at once after a
        reboot, a recovery or a port failure."""
        loop = asyncio.get_running_loop()
        self._due = loop.time() + (self.timeout_s if self._failures else self.poll_interval_s)
        while not self._stopping:
            remaining = self._due - loop.time()
            if remaining > 0 and not self._urgent():
                # asyncio.timeout, not wait_for: in 3.11 wait_for may swallow the
                # cancellation of stop() when the wake-up comes at the same moment.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await self._wake.wait()
                self._wake.clear()
                continue
            self._due = loop.time() + (self.timeout_s if self._failures else self.poll_interval_s)
            # A silent controller may sit behind a stuck adapter: reopen that too.
            if self._serial is None or self._port_broken or self._link_fault:
                async with self._request_lock:
                    await self._close()
                if not await self._open():
                    continue
                self._resync_needed = True
            try:
                if self._resync_needed:
                    await self._resync()
                else:
                    await self._read_state()
                    await self._pulse_heartbeat()
            except DeviceError as exc:
                log.debug("connector %d: %s", self.connector, exc)

    # --- the port -----------------------------------------------------------------------

    async def _open(self) -> bool:
        loop = asyncio.get_running_loop()
        try:
            port = await loop.run_in_executor(None, self._open_blocking)
        except (serial.SerialException, OSError, ValueError) as exc:
            self._note_failure(reason=f"cannot open {self.port}: {exc}", at_once=True)
            return False
        self._serial, self._port_broken = port, False
        self._reader_stop = threading.Event()
        self._reader = threading.Thread(
            target=self._read_forever,
            args=(port, self._reader_stop, loop),
            name=f"rapi-reader-{self.connector}",
            daemon=True,
        )
        self._reader.start()
        return True

    def _open_blocking(self) -> serial.Serial:
        return serial.Serial(
            port=self.port,
            baudrate=self.baudrate,
            timeout=READ_SLICE_S,
            write_timeout=self.timeout_s,
            exclusive=True,
        )

    async def _close(self) -> None:
        port, reader = self._serial, self._reader
        self._serial, self._reader = None, None
        self._reader_stop.set()
        if port is None:
            return
        with contextlib.suppress(Exception):
            port.cancel_read()
        if reader is not None:
            await asyncio.to_thread(reader.join)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(port.close)

    def _read_forever(
        self, port: serial.Serial, stop: threading.Event, loop: asyncio.AbstractEventLoop
    ) -> None:
        """Reader thread: split the byte stream at CR and hand each line to the loop."""
        buffer = bytearray()
        try:
            while not stop.is_set():
                try:
                    chunk = port.read(port.in_waiting or 1)
                except (serial.SerialException, OSError, TypeError) as exc:
                    if not stop.is_set():
                        loop.call_soon_threadsafe(self._on_port_failed, port, exc)
                    return
                buffer += chunk
                while (end := buffer.find(b"\r")) >= 0:
                    line = bytes(buffer[:end])
                    del buffer[: end + 1]
                    loop.call_soon_threadsafe(self._on_line, line)
                if len(buffer) > MAX_LINE:
                    loop.call_soon_threadsafe(self._bad_frame, bytes(buffer), "line too long")
                    buffer.clear()
        except RuntimeError:  # the loop closed under us: nobody is listening any more
            return

    def _on_port_failed(self, port: serial.Serial, exc: BaseException) -> None:
        if port is not self._serial or self._port_broken:
            return
        log.warning("connector %d: serial port %s failed: %s", self.connector, self.port, exc)
        self._port_broken = True
        self._note_failure(reason=f"{self.port}: {exc}", at_once=True)
        if self._pending is not None and not self._pending[1].done():
            self._pending[1].set_exception(serial.SerialException(str(exc)))
        self._wake.set()


def _int_arg(f: RapiFrame, index: int, base: int) -> int | None:
    try:
        return int(f.args[index], base)
    except (IndexError, ValueError):
        return None
