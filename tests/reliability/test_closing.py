"""Closing the engine: with a waiter cancelled, or while a transfer is starting."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator import TransferError
from tests.reliability.cases import HAPPY
from tests.reliability.harness import warm
from tests.reliability.rig import Rig, outcome_of


# A promise an attacker broke (issue 14; was tests/reliability/test_broken_promises.py).
async def test_a_cancelled_waiter_does_not_break_closing_the_engine() -> None:
    async with Rig(HAPPY, fault="waiter-cancelled-then-aclose") as rig:
        transfer = await rig.start(warm())
        waiter = asyncio.ensure_future(outcome_of(transfer))
        await rig.advance(0.5)
        waiter.cancel()
        await rig.settle()
        closing = asyncio.ensure_future(rig.engine.aclose())
        await rig.run_until(closing)  # raised CancelledError
        (outcome,) = await rig.finish()
        rig.verify()
        assert (outcome.kind, outcome.reason) == ("failed", "cancelled")


# A promise an attacker broke (issue 14; was tests/reliability/test_broken_promises.py).
@pytest.mark.parametrize("k", [1, 2])
async def test_closing_the_engine_while_a_transfer_starts_is_cancelled(k: int) -> None:
    async with Rig(HAPPY, fault=f"aclose-during-start-{k}") as rig:
        rig.in_flight(k, rig.drain)
        with pytest.raises(TransferError) as refused:
            await rig.start(warm())
        assert (refused.value.reason, refused.value.retryable) == ("cancelled", False)
        assert rig.media.calls == []
        rig.verify()  # and no claim left on the caller
