"""Checkpoint writes racing each other: a caller's rejoin (LiveKit drops the attributes the
API wrote) against the transfer's own checkpoint writes (closed: `checkpoint.checkpoint`
orders them), and a second start in another process against a rejoin (closed as far as a
repair answered within `presence.REJOIN_WINDOW_S` goes: the start waits out the rejoin, and the
running transfer takes the caller back from a claim still `requested`; docs/reliability.md,
Limits).

Run on the sandbox's simulated clock, through the reliability rig (two engines, one sandbox).
"""

from __future__ import annotations

import asyncio

import pytest

from orchestrator import TransferInProgress
from orchestrator.engine.outcome import TransferOutcome
from orchestrator.engine.transfer import Transfer
from orchestrator.sandbox.scenario import FaultSpec
from tests.reliability.harness import warm
from tests.reliability.rig import Rig

UPDATE = "RoomService.UpdateParticipant"
RINGING = {"phones": {"default": {"answer": 6.0, "decide_after": 1.0}}}


async def _wait(transfer: Transfer) -> TransferOutcome:
    return await transfer.outcome


def _state(rig: Rig) -> str | None:
    member = rig.sandbox.world.member(rig.room, rig.callers[rig.room])
    return None if member is None else member.info.attributes.get("transfer.state", "")


def _holder(rig: Rig) -> str:
    member = rig.sandbox.world.member(rig.room, rig.callers[rig.room])
    return "" if member is None else member.info.attributes.get("transfer.id", "")


@pytest.mark.parametrize("late", [4.0, 8.0])
async def test_a_rejoin_repair_answered_late_does_not_land_after_a_newer_checkpoint(
    late: float,
) -> None:
    """The caller rejoins while the supervisor rings (checkpoint `held`); the repair of the
    checkpoint is applied `late` seconds later, after the transfer wrote `briefing` (4 s) or
    `merged` (8 s): the caller must carry the newest state, not the repair's older one."""
    async with Rig(RINGING, fault=f"rejoin-repair-late-{late}") as rig:
        first = await rig.start(warm())
        await rig.advance(3.0)
        assert first.state == "dial_supervisor"
        assert _state(rig) == "held"
        rig.sandbox.faults.add(FaultSpec(rpc=UPDATE, delay=late))
        rig.sandbox.reconnect(rig.room, rig.callers[rig.room])
        await rig.run_until(asyncio.ensure_future(_wait(first)))
        assert first.outcome.result().kind == "merged"
        await rig.advance(late)  # the repair has landed by now, whatever it wrote
        assert _holder(rig) == first.transfer_id
        assert _state(rig) == "merged"
        await rig.finish()
        rig.verify()


@pytest.mark.parametrize("late", [0.0, 3.0])
async def test_a_rejoin_just_before_cleanup_does_not_write_the_cleared_checkpoint_again(
    late: float,
) -> None:
    """The caller rejoins while the supervisor rings and the transfer is cancelled at once:
    the repair (applied `late` seconds later) must not land after cleanup's clear."""
    async with Rig(RINGING, fault=f"rejoin-before-clear-{late}") as rig:
        first = await rig.start(warm())
        await rig.advance(3.0)
        assert first.state == "dial_supervisor"
        if late:
            rig.sandbox.faults.add(FaultSpec(rpc=UPDATE, delay=late))
        rig.sandbox.reconnect(rig.room, rig.callers[rig.room])
        first.cancel()
        await rig.run_until(asyncio.ensure_future(_wait(first)))
        await rig.advance(late + 30.0)
        assert _holder(rig) == ""
        assert _state(rig) == ""
        await rig.finish()
        rig.verify()


async def test_a_rejoin_during_the_clear_does_not_write_the_checkpoint_again() -> None:
    """Cleanup's clear is answered late; the caller rejoins meanwhile: nothing of the
    transfer is written after it."""
    async with Rig(RINGING, fault="rejoin-during-clear") as rig:
        first = await rig.start(warm())
        await rig.advance(3.0)
        assert first.state == "dial_supervisor"
        rig.sandbox.faults.add(FaultSpec(rpc=UPDATE, delay=2.0))
        first.cancel()
        await rig.advance(1.0)
        assert not first.outcome.done()  # the clear is on its way
        rig.sandbox.reconnect(rig.room, rig.callers[rig.room])
        await rig.run_until(asyncio.ensure_future(_wait(first)))
        await rig.advance(30.0)
        assert _holder(rig) == ""
        await rig.finish()
        rig.verify()


@pytest.mark.parametrize("repair_late", [0.5, 2.0])
async def test_a_second_start_in_another_process_during_a_callers_rejoin_does_not_run(
    repair_late: float,
) -> None:
    """The caller rejoins while the supervisor rings (the claim and checkpoint are wiped);
    the running transfer's repair is applied `repair_late` seconds later; meanwhile a worker
    in another process is asked to transfer the same caller and finds no claim. Exactly one
    transfer dials a supervisor, and the first transfer's checkpoint survives (it merges
    and the caller carries its `merged`)."""
    async with Rig(RINGING, fault=f"second-start-in-rejoin-{repair_late}") as rig:
        first = await rig.start(warm())
        await rig.advance(3.0)
        assert first.state == "dial_supervisor"
        rig.sandbox.faults.add(FaultSpec(rpc=UPDATE, delay=repair_late))
        rig.sandbox.reconnect(rig.room, rig.callers[rig.room])
        await rig.settle()
        assert _holder(rig) == ""  # wiped, the repair on its way
        other = rig.another_engine(same_process=False)
        starting = asyncio.ensure_future(other.start(warm(), room=rig.room))
        try:
            await rig.run_until(starting)
        except TransferInProgress:
            second = None
        else:
            second = starting.result()
            rig.adopt(second, warm())
        await rig.run_until(asyncio.ensure_future(_wait(first)))
        assert first.outcome.result().kind == "merged"
        await rig.advance(10.0)
        assert _holder(rig) == first.transfer_id
        assert _state(rig) == "merged"
        if second is not None:
            await rig.run_until(asyncio.ensure_future(_wait(second)))
            assert second.outcome.result().kind == "failed"
            assert second.outcome.result().reason == "in_progress"
        # The second transfer never dialled (a dial is listed once answered: the first
        # transfer's, ringing at the rejoin, is among them).
        assert [d["participant_identity"] for d in rig.dials()] == [
            f"supervisor-{first.transfer_id}-1"
        ]
        await rig.finish()
        rig.verify()


async def test_a_running_transfer_takes_the_caller_back_from_a_claim_made_in_its_rejoin() -> None:
    """The running transfer's repair lands after the rejoin window: a worker in another
    process waits it out, reads no claim, and claims the caller, its claim landing just after
    the repair. The running transfer reads the caller back after its repair, finds that claim
    still `requested`, and writes its own checkpoint over it; the second start finds it at
    the hold and ends as a lost claim, without dialling."""
    late = {"phones": {"default": {"answer": 12.0, "decide_after": 1.0}}}
    async with Rig(late, fault="claim-restored-after-rejoin") as rig:
        first = await rig.start(warm())
        await rig.advance(3.0)
        assert first.state == "dial_supervisor"
        rig.sandbox.faults.add(FaultSpec(rpc=UPDATE, delay=4.5))  # the repair: lands at 7.5
        rig.sandbox.faults.add(FaultSpec(rpc=UPDATE, delay=0.6))  # the claim, sent at 7.0
        rig.sandbox.reconnect(rig.room, rig.callers[rig.room])
        await rig.settle()
        other = rig.another_engine(same_process=False)
        spoken = other.media.say_to_caller

        async def say_to_caller(room: str, text: str) -> None:  # "Please hold...": 2 s
            await rig.clock.sleep(2.0)
            await spoken(room, text)

        other.media.say_to_caller = say_to_caller  # type: ignore[method-assign]
        starting = asyncio.ensure_future(other.start(warm(), room=rig.room))
        await rig.advance(4.2)
        assert not starting.done()
        # The running transfer's read-back after its repair (sent at 7.5) answered after
        # the claim landed (7.6).
        rig.sandbox.faults.add(FaultSpec(rpc="RoomService.GetParticipant", delay=0.2))
        await rig.run_until(starting)
        second = starting.result()
        rig.adopt(second, warm())
        await rig.run_until(asyncio.ensure_future(_wait(second)))
        assert second.outcome.result().kind == "failed"
        assert second.outcome.result().reason == "in_progress"
        restored = [e for e in rig.tap.entries if e["event"] == "transfer.claim_restored"]
        assert [(e["transfer_id"], e["other_transfer_id"]) for e in restored] == [
            (first.transfer_id, second.transfer_id)
        ]
        await rig.run_until(asyncio.ensure_future(_wait(first)))
        assert first.outcome.result().kind == "merged"
        await rig.advance(10.0)
        assert _holder(rig) == first.transfer_id
        assert _state(rig) == "merged"
        assert [d["participant_identity"] for d in rig.dials()] == [
            f"supervisor-{first.transfer_id}-1"
        ]
        await rig.finish()
        rig.verify()
