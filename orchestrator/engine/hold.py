"""`max_hold`: the bound on the caller's total time on hold, whatever the flow does.

The timer starts with the first hold and runs on the transfer's clock. When it expires, the
engine takes the caller off hold itself, then posts `max_hold` (the flow's `on_max_hold`
runs): the loader lets no hold or dial follow it, but a cold transfer's REFER can take
minutes, and the caller must not spend them on hold. Media that fails to stop the hold audio
is asked again a second after each failure until it does (cleanup asks once more at the end).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol, TypeVar

from orchestrator.clock import Clock
from orchestrator.engine.ports import MEDIA_TIMEOUT_S, Media
from orchestrator.flow.model import Flow

__all__ = ["Holding", "max_hold"]

T = TypeVar("T")


class Holding(Protocol):
    """What the `max_hold` timer needs from its transfer."""

    flow: Flow
    clock: Clock
    media: Media
    room: str
    log: Any

    async def within(self, seconds: float, work: Awaitable[T]) -> T: ...

    def post(self, event: str, visit: int | None = None) -> None: ...

    def count_hold(self) -> None: ...


_RETRY_S = 1.0


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
    t.count_hold()
    return True
