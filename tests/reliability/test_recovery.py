"""Recovery, through the reliability rig: a merge whose supervisor has gone ends the call."""

from __future__ import annotations

import asyncio

from tests.reliability.cases import HAPPY
from tests.reliability.harness import warm
from tests.reliability.invariants import no_leaks
from tests.reliability.rig import Rig


# A promise an attacker broke (issue 14; was tests/reliability/test_broken_promises.py).
async def test_recovering_a_merge_without_its_supervisor_ends_the_call() -> None:
    """Issue 14 found the AI leaving the caller alone here. Since issue 19 a merged call ends
    for both when either hangs up, also when it happened while no worker watched: the
    caller is not left alone, their phone gets BYE."""
    async with Rig(HAPPY, fault="recover-merged-supervisor-gone") as rig:
        caller = rig.callers[rig.room]
        checkpoint = {"transfer.id": "abcdefghijkl", "transfer.state": "merged"}
        rig.sandbox.world.set_attributes(rig.room, caller, checkpoint)
        recovering = asyncio.ensure_future(rig.engine.recover(warm(), room=rig.room))
        await rig.run_until(recovering)
        outcome = recovering.result()
        assert outcome is not None
        assert (outcome.kind, outcome.reason) == ("merged", None)
        assert rig.room not in rig.sandbox.world.rooms
        (inbound,) = [log for log in rig.sandbox.phone_logs if log.identity == caller]
        assert inbound.received == ["BYE"]
        assert rig.engine.calls == {}
        no_leaks(rig)  # (a recovery has no Transfer: the outcome invariants do not apply)
