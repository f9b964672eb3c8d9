"""Clocks for simulated time: compressed real time, or a manual clock tests advance.

Everything in the sandbox that "takes time" (a phone ringing, a caller hanging up after four
seconds, a room closing when empty) sleeps on a `Clock`, never on `asyncio.sleep` directly,
so a simulation can run 50 times faster than life and a test can run with no real waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

__all__ = ["Cancellable", "Clock", "ManualClock", "RealClock", "wall_time", "within"]

T = TypeVar("T")


class Clock(Protocol):
    """Simulated seconds: `now()` only moves forward; `sleep()` waits simulated seconds."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    def call_later(self, seconds: float, callback: Callable[[], object]) -> Cancellable:
        """Call `callback` after `seconds` of this clock's time, unless cancelled first."""
        ...


class Cancellable(Protocol):
    def cancel(self) -> object: ...


async def within(clock: Clock, seconds: float, work: Awaitable[T]) -> T:
    """`work`, or TimeoutError after `seconds` of `clock` time (the work is cancelled).

    `asyncio.timeout` semantics, in the current task: no task for the work, no timer task.
    """
    loop = asyncio.get_running_loop()
    running = True

    def expire() -> None:
        if running:  # a manual clock's wake-up may come after the work has ended
            deadline.reschedule(loop.time())

    async with asyncio.timeout(None) as deadline:
        timer = clock.call_later(seconds, expire)
        try:
            return await work
        finally:
            running = False
            timer.cancel()


def wall_time(clock: Clock) -> float:
    """`clock`'s now as seconds since the Unix epoch, as LiveKit stamps a participant's
    `joined_at`: the clocks here remember the wall time at which their `now()` was 0 (a
    sandbox and the engines it serves share one clock, so its simulated time is theirs);
    any other clock is taken to run in real time."""
    epoch = getattr(clock, "epoch", None)
    return time.time() if epoch is None else epoch + clock.now()


class RealClock:
    """Real time compressed by `speed` (2.0 means simulated time runs twice as fast)."""

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._origin = time.monotonic()
        self.epoch = time.time()
        """The wall time (seconds since the Unix epoch) when `now()` was 0."""

    def now(self) -> float:
        return (time.monotonic() - self._origin) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0) / self.speed)

    def call_later(self, seconds: float, callback: Callable[[], object]) -> Cancellable:
        return asyncio.get_running_loop().call_later(max(seconds, 0.0) / self.speed, callback)


class ManualClock:
    """Time stands still until `advance()`; sleepers wake in deadline order, deterministically."""

    def __init__(self) -> None:
        self._now = 0.0
        self.epoch = time.time()
        """The wall time (seconds since the Unix epoch) when `now()` was 0."""
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), future))
        await future

    def call_later(self, seconds: float, callback: Callable[[], object]) -> Cancellable:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + max(seconds, 0.0), next(self._order), future))
        future.add_done_callback(lambda done: done.cancelled() or callback())
        return future

    @property
    def pending(self) -> int:
        """How many sleepers are waiting (cancelled ones included until their deadline)."""
        return sum(1 for *_, future in self._sleepers if not future.done())

    def next_deadline(self) -> float | None:
        """When the earliest live sleeper wakes, or None if nobody sleeps."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)  # cancelled sleepers
        return self._sleepers[0][0] if self._sleepers else None

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking each sleeper at its deadline and letting it run."""
        target = self._now + seconds
        await _settle()  # sleepers that are about to register first
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not future.done():
                future.set_result(None)
                await _settle()
        self._now = target
        await _settle()


async def _settle() -> None:
    # Let the woken task and whatever it starts (a reply on a local socket) run to their
    # next real wait before time moves on; loop passes, not wall-clock time.
    for _ in range(50):
        await asyncio.sleep(0)
