"""The checkpoint on the caller: written and cleared exactly once, whatever `not_found`s,
failed updates and cut-short writes happen around it."""

from __future__ import annotations

import pytest

from tests.reliability.cases import ACCEPTS
from tests.reliability.harness import flow, warm
from tests.reliability.rig import Rig


# Found by the stateful test (was tests/reliability/test_stateful_regressions.py).
async def test_a_spurious_not_found_leaves_no_checkpoint() -> None:
    """Was: a not_found answer to clearing the checkpoint was taken as "the caller left"
    without checking, so the caller kept a stale `transfer.state`.
    Found as: chain flow, an UpdateParticipant answered not_found, then a cancel."""
    scenario = {"phones": {"default": ACCEPTS}}
    async with Rig(scenario, fault="stateful-spurious-not-found") as rig:
        await rig.start(flow("supervisor_chain"))
        rig.sandbox.add_fault("RoomService.UpdateParticipant", "not_found")
        await rig.settle()
        rig.cancel()
        await rig.finish()
        rig.verify()


# Found by the stateful test (was tests/reliability/test_stateful_regressions.py).
@pytest.mark.parametrize(("times", "delay"), [(5, 0.0), (2, 30.0)], ids=["five-503s", "slow-503s"])
async def test_failing_updates_leave_no_checkpoint(times: int, delay: float) -> None:
    """Was: clearing the checkpoint got 3 back-to-back tries inside one 15 s cleanup bound
    and no retry later, so the caller kept a stale `transfer.state`.
    Found as: warm flow, UpdateParticipant answering 503 five times in a row from the
    start (the hold checkpoint fails, then every try to clear it); and answering 503 after
    30 s, twice."""
    scenario = {"phones": {"default": ACCEPTS}}
    async with Rig(scenario, fault=f"stateful-checkpoint-not-cleared-{times}") as rig:
        await rig.start(warm())
        rig.sandbox.add_fault(
            "RoomService.UpdateParticipant", "unavailable", times=times, delay=delay
        )
        await rig.finish()
        rig.verify()


# Found by the stateful test (was tests/reliability/test_stateful_regressions.py).
async def test_a_failed_check_of_a_not_found_still_clears_the_checkpoint() -> None:
    """Found as: chain flow, every attempt's 'briefing' checkpoint answered not_found, the
    GetParticipant checks failing (deadline_exceeded) from the third on. Made deterministic:
    the supervisor is busy, and both faults are armed as the transfer returns to the AI."""
    async with Rig({"phones": {"default": {"answer": "busy"}}}, fault="stateful-check") as rig:

        def arm() -> None:
            rig.sandbox.add_fault("RoomService.UpdateParticipant", "not_found")
            rig.sandbox.add_fault("RoomService.GetParticipant", "deadline_exceeded")

        rig.on_state("return_to_agent", arm)
        outcome = await rig.run(warm())
        assert (outcome.kind, outcome.reason) == ("returned", "busy")


# Found by the stateful test (was tests/reliability/test_stateful_regressions.py).
async def test_a_hang_up_deduced_from_spurious_not_founds_leaves_no_checkpoint() -> None:
    """Was: a `not_found` to the 'briefing' checkpoint, confirmed by a `not_found` to the
    GetParticipant that checks it, ended the transfer as a caller hang-up, and cleanup
    skipped clearing the checkpoint of a caller who had, in fact, stayed. Now a departure
    is confirmed by the room's listing too, and the transfer goes on.
    Found as: chain flow, both calls answered not_found once (without doing the work)."""
    scenario = {"phones": {"default": ACCEPTS}}
    async with Rig(scenario, fault="stateful-deduced-hang-up-checkpoint") as rig:
        await rig.start(flow("supervisor_chain"))
        rig.sandbox.add_fault("RoomService.GetParticipant", "not_found")
        rig.sandbox.add_fault("RoomService.UpdateParticipant", "not_found")
        (outcome,) = await rig.finish()
        rig.verify()
        assert outcome.kind == "merged"


# Found by the stateful test (was tests/reliability/test_stateful_regressions.py).
async def test_a_checkpoint_write_cut_short_does_not_land_after_the_clear() -> None:
    """Was: a transfer cancelled while its 'briefing' checkpoint write was still at the
    server cleared the checkpoint, then that write landed and put it back.
    Found as: chain flow, UpdateParticipant answering 0.5 s late, the transfer cancelled
    0.1 s later."""
    scenario = {"phones": {"default": ACCEPTS}}
    async with Rig(scenario, fault="stateful-late-checkpoint-write") as rig:
        await rig.start(flow("supervisor_chain"))
        rig.sandbox.add_fault("RoomService.UpdateParticipant", None, delay=0.5)  # type: ignore[arg-type]
        await rig.advance(0.1)
        rig.cancel()
        (outcome,) = await rig.finish()
        rig.verify()
        assert (outcome.kind, outcome.reason) == ("failed", "cancelled")


# Found by the stateful test (was tests/reliability/test_stateful_regressions.py).
async def test_a_spurious_not_found_on_the_check_of_a_clear_leaves_no_checkpoint() -> None:
    """Was: clearing the checkpoint answered not_found, and so did the GetParticipant that
    checks whether the caller had left: cleanup believed it and left the checkpoint on a
    caller who was still there. Now a departure is confirmed by the room's listing too.
    Found as: chain flow, an owned-only trunk, RemoveParticipant failing (503) five times,
    then UpdateParticipant and GetParticipant answering not_found once each."""
    scenario = {
        "phones": {"default": ACCEPTS},
        "trunk": {"caller_id_policy": "owned_only"},
    }
    async with Rig(scenario, fault="stateful-spurious-not-found-on-the-check") as rig:
        await rig.start(flow("supervisor_chain"))
        rig.sandbox.add_fault("RoomService.RemoveParticipant", "unavailable", times=5)
        rig.sandbox.add_fault("RoomService.UpdateParticipant", "not_found")
        rig.sandbox.add_fault("RoomService.GetParticipant", "not_found")
        (outcome,) = await rig.finish()
        rig.verify()
        assert outcome.kind == "returned"
