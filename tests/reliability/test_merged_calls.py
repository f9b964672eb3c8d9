"""A merged call, watched until it ends: nobody is left alone on the line, whatever happens
around the merge, a reconnect, a lost worker or LiveKit answering wrongly.

Each case was found by a review of issue 19's watch and failed before its fix.
"""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from orchestrator import TransferInProgress
from orchestrator.engine import TransferOutcome
from orchestrator.engine.merged_call import MergedCall
from orchestrator.sandbox.scenario import FaultSpec
from tests.reliability.cases import HAPPY
from tests.reliability.harness import warm
from tests.reliability.rig import Rig

SCENARIO = {"phones": {"default": {"answer": 1.0, "decide_after": 1.0}}}
DELETE = "RoomService.DeleteRoom"


async def _merged(rig: Rig) -> MergedCall:
    transfer = await rig.start(warm())
    await rig.run_until(transfer.outcome)
    assert transfer.outcome.result().kind == "merged"
    return rig.engine.calls[rig.room]


async def _recover(rig: Rig) -> tuple[TransferOutcome | None, list[dict[str, object]]]:
    """A replacement worker's engine recovers the room (the first one's watch is gone)."""
    other = rig.another_engine(same_process=False)
    with capture_logs() as logs:
        recovering = asyncio.ensure_future(other.recover(warm(), room=rig.room))
        await rig.run_until(recovering)
    return recovering.result(), logs


def _phones_hung_up(rig: Rig) -> dict[str, bool]:
    return {log.identity: log.ended_at is not None for log in rig.sandbox.phone_logs}


@pytest.mark.parametrize("flavor", ["cloud", "oss"])
@pytest.mark.parametrize("who", ["caller", "supervisor"])
async def test_a_departure_still_unconfirmed_at_the_merge_ends_the_call(
    flavor: str, who: str
) -> None:
    """Gone (no `hangup` status, so within its 1 s grace) as `merged` lands: the watch
    confirms it and the other phone gets BYE."""
    async with Rig(SCENARIO, flavor=flavor) as rig:
        left: list[float] = []

        def leave() -> None:
            if who == "caller":
                rig.sandbox.remove(rig.room, rig.callers[rig.room])
            else:
                leg = rig.supervisor()
                assert leg is not None
                rig.sandbox.remove(*leg)

        def on_event(event: object) -> None:
            who_changed = getattr(event, "participant", None)
            merged = who_changed and who_changed.attributes.get("transfer.state") == "merged"
            if merged and not left:
                left.append(rig.clock.now())
                asyncio.get_running_loop().call_soon(leave)

        rig._unsubscribe.append(rig.sandbox.subscribe(on_event))
        transfer = await rig.start(warm())
        await rig.run_until(transfer.outcome)
        await rig.advance(30.0)
        assert left
        assert all(_phones_hung_up(rig).values()), rig.sandbox.phone_logs
        assert rig.room not in rig.engine.calls


async def test_a_caller_who_reconnects_keeps_the_merged_checkpoint() -> None:
    async with Rig(SCENARIO) as rig:
        call = await _merged(rig)
        caller = rig.callers[rig.room]
        rig.sandbox.reconnect(rig.room, caller)
        await rig.advance(5.0)
        assert not call.ended.done()  # a reconnect is not a hang-up
        member = rig.sandbox.world.member(rig.room, caller)
        assert member is not None
        assert member.info.attributes.get("transfer.state") == "merged"
        # So a replacement worker still finds the call, and watches it.
        call.stop()
        outcome, _ = await _recover(rig)
        assert outcome is not None
        assert outcome.kind == "merged"
        await rig.end_merged_calls()


async def test_a_caller_who_hung_up_while_nobody_watched_releases_the_supervisor() -> None:
    async with Rig(SCENARIO) as rig:
        call = await _merged(rig)
        call.stop()  # the worker is lost during the merged call
        rig.sandbox.hang_up(rig.room, call.caller)
        await rig.advance(2.0)
        outcome, logs = await _recover(rig)
        await rig.advance(5.0)
        assert outcome is not None
        assert (outcome.kind, outcome.reason) == ("caller_hung_up", "worker_lost")
        assert _phones_hung_up(rig)[call.supervisor]
        (ended,) = [e for e in logs if e["event"] == "transfer.call_ended"]
        assert (ended["hung_up_first"], ended["released"]) == ("caller", True)


async def test_recovery_does_not_believe_a_wrong_not_found_when_ending_the_call() -> None:
    async with Rig(SCENARIO) as rig:
        call = await _merged(rig)
        call.stop()
        rig.sandbox.hang_up(rig.room, call.supervisor)
        await rig.advance(1.0)
        # A stale node answers not_found to both DeleteRooms of recover(): right for the
        # consult room, wrong for the caller's room.
        rig.sandbox.faults.add(FaultSpec(rpc=DELETE, code="not_found", times=2))
        _, logs = await _recover(rig)
        await rig.advance(10.0)
        assert _phones_hung_up(rig)[call.caller]
        (ended,) = [e for e in logs if e["event"] == "transfer.call_ended"]
        # Every field the README promises, call_seconds null: nobody watched the call end.
        assert ended["hung_up_first"] == "supervisor"
        assert ended["call_seconds"] is None
        assert isinstance(ended["release_ms"], float)
        assert ended["released"] is True


async def test_ending_the_call_does_not_believe_a_wrong_not_found_from_remove() -> None:
    async with Rig(SCENARIO) as rig:
        call = await _merged(rig)
        rig.sandbox.faults.add(FaultSpec(rpc=DELETE, code="unavailable", times=20))
        remove = FaultSpec(rpc="RoomService.RemoveParticipant", code="not_found", times=1)
        rig.sandbox.faults.add(remove)
        rig.sandbox.hang_up(rig.room, call.supervisor)
        await rig.run_until(call.ended, limit=200)
        assert call.ended.result().released
        assert _phones_hung_up(rig)[call.caller]


async def test_call_seconds_count_from_the_merge() -> None:
    async with Rig(SCENARIO) as rig:
        transfer = await rig.start(warm())
        await rig.run_until(transfer.outcome)
        merged = rig.clock.now() - (transfer.elapsed() - (transfer.merged_at or 0.0))
        call = rig.engine.calls[rig.room]
        await rig.advance(30.0)
        rig.sandbox.hang_up(rig.room, call.caller)
        await rig.run_until(call.ended, limit=120)
        talked = call.ended.result().call_seconds
        assert talked == pytest.approx(rig.clock.now() - merged, abs=1.5)


async def test_the_watch_does_not_wait_for_the_consult_room() -> None:
    """The consult room's deletion answers slowly; the caller hangs up meanwhile: the
    supervisor's phone gets BYE within the 2 s bound all the same."""
    async with Rig(SCENARIO) as rig:
        hung_up: list[float] = []

        def slow_consult_delete() -> None:  # the cleanup's first DeleteRoom: the consult room
            rig.sandbox.faults.add(FaultSpec(rpc=DELETE, delay=2.9, times=1))

        def hang_up() -> None:
            hung_up.append(rig.clock.now())
            rig.sandbox.hang_up(rig.room, rig.callers[rig.room])

        rig.on_state("agent_leaves", slow_consult_delete)
        rig.on_state("agent_leaves", lambda: rig.at(0.1, hang_up))
        transfer = await rig.start(warm())
        await rig.run_until(transfer.outcome)
        await rig.advance(30.0)
        (supervisor,) = [
            log for log in rig.sandbox.phone_logs if log.identity.startswith("supervisor-")
        ]
        assert supervisor.ended_at is not None
        assert supervisor.ended_at - hung_up[0] <= 2.0


# A promise an attacker broke (issue 14; was tests/reliability/test_broken_promises.py).
async def test_no_new_supervisor_is_dialled_into_a_merged_call() -> None:
    async with Rig(HAPPY, fault="start-after-merge") as rig:
        transfer = await rig.start(warm())
        await rig.run_until(transfer.outcome)
        assert transfer.outcome.result().kind == "merged"  # and the call goes on
        other = rig.another_engine()
        for engine in (rig.engine, other):
            starting = asyncio.ensure_future(engine.start(warm(), room=rig.room))
            with pytest.raises(TransferInProgress):
                await rig.run_until(starting)
        assert len(rig.dials()) == 1
        await rig.finish()
        rig.verify()


# A promise an attacker broke again (issue 20; was tests/reliability/test_in_flight_promises.py).
async def test_a_wrong_not_found_on_ending_a_merged_call_still_releases_the_other() -> None:
    """One side of a merged call hangs up and DeleteRoom answers `not_found` while the room
    is there: the other phone still gets BYE (it was taken as 'gone already')."""
    async with Rig(HAPPY, fault="merged-call-delete-not-found") as rig:
        rig.on_state(
            "agent_leaves",
            lambda: rig.sandbox.add_fault("RoomService.DeleteRoom", "not_found", times=3),
        )
        await rig.start(warm())
        (outcome,) = await rig.finish()
        rig.verify()
        assert outcome.kind == "merged"
