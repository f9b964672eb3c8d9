"""Waiting in real time, always with a deadline: the real stack runs in real time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["until"]


async def until(check: Callable[[], bool], seconds: float, what: str) -> None:
    """Return once `check()` holds; TimeoutError naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {seconds:.0f} s: {what}")
        await asyncio.sleep(0.02)
