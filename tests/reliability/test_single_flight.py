"""One transfer per caller, across engines (workers): a second start is refused, however the
starts interleave and whatever the caller's claim looks like."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator import TransferError, TransferInProgress
from orchestrator.engine import Transfer
from orchestrator.sandbox.core import Flavor
from orchestrator.sandbox.scenario import FaultSpec
from tests.reliability.cases import HAPPY, UPDATE, phones
from tests.reliability.harness import warm
from tests.reliability.rig import Rig

CHECKPOINT = ("transfer.id", "transfer.state", "transfer.consult_room")


def _checkpoint(rig: Rig) -> dict[str, str]:
    member = rig.sandbox.world.member(rig.room, rig.callers[rig.room])
    assert member is not None
    return {k: v for k, v in member.info.attributes.items() if k in CHECKPOINT and v}


# A promise an attacker broke (issue 14; was tests/reliability/test_broken_promises.py).
async def test_a_second_worker_cannot_start_over_a_running_transfer() -> None:
    async with Rig(phones({"answer": 6.0, "decide_after": 1.0}), fault="two-engines") as rig:
        first = await rig.start(warm())
        await rig.advance(3.0)  # the supervisor's phone rings
        assert first.state == "dial_supervisor"
        other = rig.another_engine()
        starting = asyncio.ensure_future(other.start(warm(), room=rig.room))
        with pytest.raises(TransferInProgress):
            await rig.run_until(starting)
        assert _checkpoint(rig)["transfer.id"] == first.transfer_id
        (outcome,) = await rig.finish()
        rig.verify()
        assert outcome.kind == "merged"
        assert [c.action for c in other.media.calls] == []  # type: ignore[attr-defined]


# A promise an attacker broke (issue 14; was tests/reliability/test_broken_promises.py).
@pytest.mark.parametrize("engines", [2, 3])
@pytest.mark.parametrize("probed", [True, False])
@pytest.mark.parametrize("flavor", ["cloud", "oss"])
async def test_workers_starting_at_once_run_one_transfer(
    flavor: Flavor, probed: bool, engines: int
) -> None:
    """Not probed: each engine's first start waits for its probe (about 3 s on self-hosted
    LiveKit); the caller was read before it, so every engine claimed the caller (found by
    the third round of attacks)."""
    name = f"engines-at-once-{flavor}-{engines}-{probed}"
    async with Rig(HAPPY, flavor=flavor, fault=name) as rig:
        every = [rig.engine, *(rig.another_engine() for _ in range(engines - 1))]
        if probed:
            for engine in every:
                await rig.run_until(asyncio.ensure_future(engine.capabilities()))
        warm_flow = warm()
        starts = (engine.start(warm_flow, room=rig.room) for engine in every)
        both = asyncio.ensure_future(asyncio.gather(*starts, return_exceptions=True))
        await rig.run_until(both)
        started = [t for t in both.result() if isinstance(t, Transfer)]
        refused = [e for e in both.result() if isinstance(e, TransferInProgress)]
        assert (len(started), len(refused)) == (1, engines - 1), both.result()
        rig.adopt(started[0], warm_flow)
        (outcome,) = await rig.finish()
        rig.verify()
        assert outcome.kind == "merged"


# A promise an attacker broke (issue 14; was tests/reliability/test_broken_promises.py).
async def test_an_id_the_engine_does_not_make_locks_nobody_out() -> None:
    """A `transfer.id` someone else wrote is not a claim: `recover()` ignores it (as the
    README says), so `start` must too, or the caller could never be transferred."""
    async with Rig(HAPPY, fault="forged-claim") as rig:
        forged = {"transfer.id": "x", "transfer.state": "briefing", "transfer.consult_room": "vip"}
        rig.sandbox.world.set_attributes(rig.room, rig.callers[rig.room], forged)
        recovering = asyncio.ensure_future(rig.engine.recover(warm(), room=rig.room))
        await rig.run_until(recovering)
        assert recovering.result() is None
        outcome = await rig.run(warm())
        assert outcome.kind == "merged"


# Found by the stateful test (was tests/reliability/test_stateful_regressions.py).
async def test_a_start_while_a_reconnect_wiped_the_claim_is_refused_by_the_same_worker() -> None:
    """Was: the caller's participant reconnected (LiveKit drops the attributes the API
    wrote), the running transfer's repair of its checkpoint was answered 0.5 s late, and a
    start by another engine of the same worker in that window saw no claim: a second
    transfer started beside the running one. The engines of one worker process now know
    each other's transfers (across processes it stays a stated limit: README, Single flight).
    Found as: warm flow, the caller rejoins while the supervisor rings, UpdateParticipant
    answered 0.5 s late, a second worker starts."""
    scenario = {"phones": {"default": {"answer": 6.0, "decide_after": 1.0}}}
    async with Rig(scenario, fault="stateful-start-in-a-wiped-claim") as rig:
        first = await rig.start(warm())
        await rig.advance(3.0)
        assert first.state == "dial_supervisor"
        rig.sandbox.faults.add(FaultSpec(rpc=UPDATE, delay=0.5))
        rig.sandbox.reconnect(rig.room, rig.callers[rig.room])
        await rig.settle()
        other = rig.another_engine(same_process=True)
        starting = asyncio.ensure_future(other.start(warm(), room=rig.room))
        with pytest.raises(TransferInProgress):
            await rig.run_until(starting)
        (outcome,) = await rig.finish()
        rig.verify()
        assert outcome.kind == "merged"


def _claim(rig: Rig) -> dict[str, str]:
    member = rig.sandbox.world.member(rig.room, rig.callers[rig.room])
    assert member is not None
    return {k: v for k, v in member.info.attributes.items() if k.startswith("transfer.") and v}


# A promise an attacker broke again (issue 20; was tests/reliability/test_in_flight_promises.py).
@pytest.mark.parametrize("code", ["deadline_exceeded", "unavailable"])
async def test_a_claim_whose_read_back_fails_is_taken_back(code: str) -> None:
    """GetParticipant answers the claim's read-back, and the first look of its taking back,
    with an error after 19.9 s (each cut by the client's 10 s): the start fails, logs its
    one outcome, and leaves no claim, so the next transfer for the caller is not refused."""
    fault = {"rpc": "RoomService.GetParticipant", "code": code, "delay": 19.9, "times": 2}
    async with Rig({**HAPPY, "faults": [fault]}, fault=f"claim-read-back-{code}") as rig:
        with pytest.raises(TransferError) as refused:
            await rig.start(warm())
        assert refused.value.reason == "unavailable"
        assert _claim(rig) == {}
        outcome = await rig.run(warm())  # not refused as "another transfer holds the caller"
        assert outcome.kind == "merged"
        finished = [e for e in rig.tap.entries if e.get("event") == "transfer.finished"]
        assert (finished[0]["outcome"], finished[0]["reason"]) == ("failed", "unavailable")


# A promise an attacker broke again (issue 20; was tests/reliability/test_in_flight_promises.py).
async def test_a_claim_cut_by_cancelling_the_start_is_taken_back() -> None:
    """The start is cancelled while its read-back waits: the claim is taken back all the
    same, and the start's one outcome is logged."""
    fault = {"rpc": "RoomService.GetParticipant", "delay": 5.0, "times": 1}
    async with Rig({**HAPPY, "faults": [fault]}, fault="claim-read-back-cancelled") as rig:
        starting = asyncio.ensure_future(rig.engine.start(warm(), room=rig.room))
        await rig.advance(2.0)
        starting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await rig.run_until(starting)
        assert _claim(rig) == {}
        outcome = await rig.run(warm())
        assert outcome.kind == "merged"
        finished = [e for e in rig.tap.entries if e.get("event") == "transfer.finished"]
        assert (finished[0]["outcome"], finished[0]["reason"]) == ("failed", "cancelled")


# A promise an attacker broke again (issue 20; was tests/reliability/test_in_flight_promises.py).
async def test_a_claim_written_after_its_start_was_cut_is_taken_back() -> None:
    """The claim's write is answered 19.9 s late (its client gives up at 10 s) and the
    start is cancelled meanwhile: the claim lands after the start's first look, so taking
    it back waits until such a write can no longer land (found by the random mixes)."""
    fault = {"rpc": "RoomService.UpdateParticipant", "delay": 19.9, "times": 1}
    async with Rig({**HAPPY, "faults": [fault]}, fault="claim-written-late") as rig:
        starting = asyncio.ensure_future(rig.engine.start(warm(), room=rig.room))
        await rig.advance(3.4)
        starting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await rig.run_until(starting)
        await rig.advance(30.0)
        assert _claim(rig) == {}
        outcome = await rig.run(warm())
        assert outcome.kind == "merged"
