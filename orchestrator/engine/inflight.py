"""Requests left running when the step that sent them is cancelled (a dial, a CreateRoom, a
checkpoint write): a request the server has may still take effect, so whoever cleans up
waits for it rather than forget it."""

from __future__ import annotations

import asyncio

__all__ = ["retrieved"]


def retrieved(call: asyncio.Future[None]) -> None:
    """A done callback: the request's error is seen here (never "exception was never
    retrieved"); whoever awaits it sees it too."""
    if not call.cancelled():
        call.exception()
