"""Requests that may still take effect (`engine.inflight.InFlight`): each is waited for as
long as its client would, plus the late-answer margin, then cancelled; cleanup settles the
consult room's CreateRoom before deleting the room and the checkpoint writes before clearing
the checkpoint."""

from __future__ import annotations

import asyncio

from orchestrator.clock import ManualClock
from orchestrator.engine.inflight import LATE_ANSWER_S, InFlight
from orchestrator.errors import LiveKitError
from orchestrator.sandbox.scenario import FaultSpec
from tests.reliability.cases import DECLINES
from tests.reliability.harness import is_probe, warm
from tests.reliability.rig import Rig

UPDATE = "RoomService.UpdateParticipant"
CREATE = "RoomService.CreateRoom"


async def _settled(clock: ManualClock, inflight: InFlight, until: float) -> float:
    """Settle `inflight` while time moves; the clock time it returned at."""
    settling = asyncio.ensure_future(inflight.settle(until))
    for _ in range(3):  # what it does at once, it has done
        await asyncio.sleep(0)
    while not settling.done():
        await clock.advance(0.5)
    return clock.now()


async def test_an_answered_request_leaves_the_registry() -> None:
    clock = ManualClock()
    inflight = InFlight(clock)
    answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    inflight.add("checkpoint", answered, deadline=10.0)
    answered.set_result(None)
    await asyncio.sleep(0)  # the done callbacks run
    assert inflight.doubtful() == []
    assert await _settled(clock, inflight, until=100.0) == 0.0


async def test_an_error_livekit_answered_is_not_waited_for() -> None:
    clock = ManualClock()
    inflight = InFlight(clock)
    refused: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    inflight.add("checkpoint", refused, deadline=10.0)
    refused.set_exception(LiveKitError("no", code="unavailable", status=503))
    await asyncio.sleep(0)
    assert inflight.doubtful() == []


async def test_a_request_still_running_is_waited_for_until_its_deadline_and_margin() -> None:
    clock = ManualClock()
    inflight = InFlight(clock)
    running: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    inflight.add("create_consult_room", running, deadline=10.0)
    assert inflight.running("create_consult_room") == {running}
    assert await _settled(clock, inflight, until=100.0) == 10.0 + LATE_ANSWER_S
    assert running.cancelled()  # nothing it sent lands after `settle`
    assert inflight.doubtful() == []


async def test_a_request_answered_meanwhile_ends_the_wait() -> None:
    clock = ManualClock()
    inflight = InFlight(clock)
    running: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    inflight.add("checkpoint", running, deadline=10.0)
    clock.call_later(3.0, lambda: running.set_result(None))
    assert await _settled(clock, inflight, until=100.0) == 3.0


async def test_a_request_its_client_gave_up_on_may_land_until_the_margin_has_passed() -> None:
    clock = ManualClock()
    inflight = InFlight(clock)
    lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    inflight.add("checkpoint", lost, deadline=10.0)
    lost.set_exception(TimeoutError())  # the client's deadline: the server may still apply it
    await asyncio.sleep(0)
    assert [r.future for r in inflight.doubtful("checkpoint")] == [lost]
    assert inflight.running("checkpoint") == set()
    assert await _settled(clock, inflight, until=100.0) == 10.0 + LATE_ANSWER_S


async def test_settle_never_waits_past_its_deadline() -> None:
    clock = ManualClock()
    inflight = InFlight(clock)
    running: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    inflight.add("checkpoint", running, deadline=10.0)
    assert await _settled(clock, inflight, until=4.0) == 4.0
    assert running.cancelled()


async def test_settle_waits_only_for_what_it_names() -> None:
    clock = ManualClock()
    inflight = InFlight(clock)
    write: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    creating: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    inflight.add("checkpoint", write, deadline=10.0)
    inflight.add("create_consult_room", creating, deadline=30.0)
    settling = asyncio.ensure_future(inflight.settle(100.0, "checkpoint"))
    while not settling.done():
        await clock.advance(0.5)
    assert clock.now() == 10.0 + LATE_ANSWER_S
    assert write.cancelled()
    assert not creating.done()
    assert inflight.running("create_consult_room") == {creating}
    creating.cancel()


# -- in a transfer's cleanup ------------------------------------------------------------


async def test_a_create_room_cut_short_by_the_caller_hanging_up_is_still_deleted() -> None:
    """CreateRoom answered 15 s late; the caller hangs up during the hold: cleanup waits for
    the creation to land, then deletes the room (deleted first, it would be made again)."""
    scenario = {"caller": {"hangup_after": 1.0}, "faults": [{"rpc": CREATE, "delay": 15.0}]}
    async with Rig(scenario, fault="create-room-cut-short") as rig:
        outcome = await rig.run(warm())
        rig.verify()  # no consult room left (INV-LEAK)
        assert outcome.kind == "caller_hung_up"
        # In the order the sandbox answered them: the deletion after the creation landed.
        rpcs = [r["rpc"] for r in rig.sandbox.requests if not is_probe(r["request"])]
        assert rpcs.index(CREATE) < rpcs.index("RoomService.DeleteRoom")


async def test_the_consult_room_is_deleted_when_its_creation_answer_was_lost() -> None:
    """CreateRoom made the room, then its answer was lost: the room is deleted by its name."""
    lost = {"rpc": CREATE, "code": "unavailable", "lose_response": True}
    async with Rig({**DECLINES, "faults": [lost]}, fault="create-room-answer-lost") as rig:
        await rig.run(warm())
        rig.verify()  # no consult room left (INV-LEAK)
        assert "RoomService.DeleteRoom" in rig.rpcs()


async def test_a_checkpoint_write_landing_late_does_not_undo_the_clear() -> None:
    """The `briefing` write is answered 8 s late; the supervisor declines at once: cleanup
    waits for the write before clearing, so the caller carries no checkpoint afterwards."""
    async with Rig(DECLINES, fault="checkpoint-write-late") as rig:
        rig.on_state(
            "brief_supervisor", lambda: rig.sandbox.faults.add(FaultSpec(rpc=UPDATE, delay=8.0))
        )
        outcome = await rig.run(warm())
        assert (outcome.kind, outcome.reason) == ("returned", "declined")
        rig.verify()  # the caller's checkpoint is cleared (INV-LEAK)
