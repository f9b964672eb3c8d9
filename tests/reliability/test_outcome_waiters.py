"""Waiting for a transfer's outcome: one waiter giving up does not take the outcome from the
others."""

from __future__ import annotations

import asyncio

from tests.reliability.cases import HAPPY
from tests.reliability.harness import warm
from tests.reliability.rig import Rig, outcome_of


# A promise an attacker broke (issue 14; was tests/reliability/test_broken_promises.py).
async def test_a_cancelled_waiter_leaves_the_outcome_to_the_others() -> None:
    async with Rig(HAPPY, fault="waiter-cancelled") as rig:
        transfer = await rig.start(warm())
        waiters = [asyncio.ensure_future(outcome_of(transfer)) for _ in range(3)]
        await rig.advance(0.5)
        waiters[0].cancel()  # as `asyncio.wait_for(transfer.outcome, ...)` does on timeout
        (outcome,) = await rig.finish()
        rig.verify()
        assert outcome.kind == "merged"
        assert waiters[0].cancelled()
        assert [w.result().kind for w in waiters[1:]] == ["merged", "merged"]
