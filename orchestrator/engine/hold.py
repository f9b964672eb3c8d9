"""`max_hold`: the bound on the caller's total time on hold, whatever the flow does.

The timer starts with the first hold and runs on the transfer's clock. When it expires, the
engine takes the caller off hold itself, then posts `max_hold` (the flow's `on_max_hold`
runs): the loader lets no hold or dial follow it, but a cold transfer's REFER can take
minutes, and the caller must not spend them on hold. Media that fails to stop the hold audio
is asked again a second after each failure until it does (cleanup asks once more at the end).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.engine.ports import MEDIA_TIMEOUT_S

if TYPE_CHECKING:
    from orchestrator.engine.transfer import Transfer

__all__ = ["max_hold"]

_RETRY_S = 1.0


async def max_hold(t: Transfer) -> None:
    await t.clock.sleep(t.flow.max_hold)
    stopped = await _stop_hold(t)
    t.post("max_hold")
    while not stopped:
        await t.clock.sleep(_RETRY_S)
        stopped = await _stop_hold(t)


async def _stop_hold(t: Transfer) -> bool:
    try:
        await t.within(MEDIA_TIMEOUT_S, t.media.stop_hold(t.room))
    except Exception as error:  # still held: asked again (and by cleanup)
        t.log.warning("transfer.media_failed", call="stop_hold", error=type(error).__name__)
        return False
    t.count_hold()
    return True
