"""`max_hold`: the bound on the caller's total time on hold, whatever the flow does.

The timer starts with the first hold and runs on the transfer's clock. When it expires, the
engine takes the caller off hold itself, then posts `max_hold` (the flow's `on_max_hold`
runs): the loader lets no hold or dial follow it, but a cold transfer's REFER can take
minutes, and the caller must not spend them on hold. Media that fails to stop the hold audio
is asked again a second after each failure until it does (cleanup asks once more at the end).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from orchestrator.clock import Clock
from orchestrator.engine.ports import MEDIA_TIMEOUT_S, Media
from orchestrator.flow.model import Flow

__all__ = ["HoldState", "Holding", "count", "max_hold", "release", "start"]

T = TypeVar("T")


@dataclass
class HoldState:
    """The caller's time on hold, as this module keeps it; nothing else writes it."""

    since: float | None = None
    """When the caller's current hold began; None when they are not on hold."""
    seconds: float = 0.0
    """Time on hold counted so far (holds that ended)."""
    timer: asyncio.Task[None] | None = None
    """The `max_hold` timer, from the first hold on."""


class Holding(Protocol):
    """What the `max_hold` timer needs from its transfer."""

    flow: Flow
    clock: Clock
    media: Media
    room: str
    log: Any
    hold: HoldState

    async def within(self, seconds: float, work: Awaitable[T]) -> T: ...

    def post(self, event: str, visit: int | None = None) -> None: ...


_RETRY_S = 1.0


def start(t: Holding) -> None:
    """The caller is on hold: the clock of this hold, and the `max_hold` timer, start."""
    if t.hold.since is None:
        t.hold.since = t.clock.now()
    if t.hold.timer is None:
        t.hold.timer = asyncio.ensure_future(max_hold(t))


def release(t: Holding) -> None:
    count(t)
    if t.hold.timer is not None:
        t.hold.timer.cancel()


def count(t: Holding) -> None:
    """The caller is off hold: this hold's time is counted."""
    if t.hold.since is not None:
        t.hold.seconds += t.clock.now() - t.hold.since
        t.hold.since = None


async def max_hold(t: Holding) -> None:
    await t.clock.sleep(t.flow.max_hold)
    stopped = await _stop_hold(t)
    t.post("max_hold")
    while not stopped:
        await t.clock.sleep(_RETRY_S)
        stopped = await _stop_hold(t)


async def _stop_hold(t: Holding) -> bool:
    try:
        await t.within(MEDIA_TIMEOUT_S, t.media.stop_hold(t.room))
    except Exception as error:  # still held: asked again (and by cleanup)
        t.log.warning("transfer.media_failed", call="stop_hold", error=type(error).__name__)
        return False
    count(t)
    return True
