"""When the RAPI driver visits its controller: the rounds (a poll, or a resync) and their
timing, apart from what a round does (hal/drivers/rapi.py).

A round runs every `poll_s` after a good one; sooner when woken (a reboot, a failure, a
recovery), but never sooner than `retry_s` after the last one began. After a failed round
the pause of `retry_s` runs whatever wakes it: a refused or unanswered command is an
answer, not a reason to ask again at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


class RoundSchedule:
    """When the next round is due, in loop time (no I/O, no clock of its own)."""

    def __init__(self, poll_s: float, retry_s: float) -> None:
        self.poll_s = poll_s
        self.retry_s = retry_s
        self.last_ok = True
        self._last_start = float("-inf")
        self._due = 0.0

    def next_at(self, *, woken: bool) -> float:
        if woken and self.last_ok:
            return min(self._due, self._last_start + self.retry_s)
        return self._due

    def done(self, started: float, ok: bool, now: float) -> None:
        self._last_start = started
        self.last_ok = ok
        self._due = now + (self.poll_s if ok else self.retry_s)


class Rounds:
    """Runs `visit` (True: the round went well) as `RoundSchedule` times it, in a task."""

    def __init__(
        self, visit: Callable[[], Awaitable[bool]], *, poll_s: float, retry_s: float, name: str
    ) -> None:
        self._visit = visit
        self._schedule = RoundSchedule(poll_s, retry_s)
        self._name = name  # of the task
        self._wake = asyncio.Event()  # something happened that wants a round soon
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        """Whether the rounds go on (started, not stopped, and the task has not ended)."""
        return self._task is not None and not self._task.done()

    def wake(self) -> None:
        """Ask for a round soon (not before the retry pause)."""
        self._wake.set()

    async def start(self) -> None:
        """One round now, then the others in the background."""
        self._stopping = False
        await self._round()
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self, timeout_s: float) -> None:
        """End the rounds; waits at most `timeout_s` for the one under way."""
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # Bounded: stop() must return even if the task got stuck somewhere.
            await asyncio.wait({task}, timeout=timeout_s)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            delay = self._schedule.next_at(woken=self._wake.is_set()) - loop.time()
            if delay > 0:
                if self._schedule.last_ok and not self._wake.is_set():
                    # asyncio.timeout, not wait_for: in 3.11 wait_for may swallow the
                    # cancellation of stop() when the wake-up comes at the same moment.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self._wake.wait()
                else:
                    await asyncio.sleep(delay)  # a failed round's pause
                continue
            await self._round()

    async def _round(self) -> None:
        loop = asyncio.get_running_loop()
        self._wake.clear()
        started = loop.time()
        self._schedule.done(started, await self._visit(), loop.time())
