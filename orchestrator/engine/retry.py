"""Retrying what must not be left behind (a live leg, a consult room, a stale checkpoint).

Each try is cut short after `TRY_SECONDS` (a slow failing server leaves time for the next),
the pauses grow, and nothing is tried past the deadline the caller of `persist` gives: the
pieces of one cleanup share one budget, so their retries never add up past it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from orchestrator.clock import Clock, within
from orchestrator.errors import TransferError

__all__ = ["TRY_SECONDS", "persist"]

TRY_SECONDS = 5.0
_PAUSES = (0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0)


async def persist(
    clock: Clock, work: Callable[[], Awaitable[bool]], failure: str, until: float
) -> None:
    """`work()` until it answers True: at most 12 tries over about 40 s, and none after
    `until` (clock time). An error, or a try over 5 s, counts as False.

    Raises:
        TransferError: it never answered True (reason `cleanup`, the message `failure`).
    """
    for pause in (*_PAUSES, None):
        left = min(TRY_SECONDS, until - clock.now())
        if left > 0:
            with contextlib.suppress(Exception):
                if await within(clock, left, work()):
                    return
        if pause is None or clock.now() + pause >= until:
            raise TransferError(failure, reason="cleanup", retryable=True)
        await clock.sleep(pause)
