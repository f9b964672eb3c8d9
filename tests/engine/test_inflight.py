"""Requests that may still take effect (`engine.inflight.InFlight`): each is waited for as
long as its client would, plus the late-answer margin, then cancelled; cleanup settles the
consult room's CreateRoom before deleting the room and the checkpoint writes before clearing
the checkpoint, and ends the leg of every dial still in it as soon as the leg shows."""

from __future__ import annotations

import asyncio
from typing import Any

from orchestrator import load_flow
from orchestrator.clock import ManualClock
from orchestrator.engine.inflight import DIAL, LATE_ANSWER_S, WRITE, InFlight
from orchestrator.engine.legs import Dialing, dialing, dials
from orchestrator.engine.reconcile import BUDGET_S
from orchestrator.engine.transfer import Transfer
from orchestrator.errors import LiveKitError
from orchestrator.livekit.names import consult_room
from orchestrator.sandbox import Sandbox
from orchestrator.sandbox.scenario import FaultSpec
from orchestrator.sandbox.state import Event
from orchestrator.simulate import drive
from tests.engine.conftest import CALLER_IDENTITY, ROOT, flow, live
from tests.reliability.cases import DECLINES
from tests.reliability.harness import is_probe, warm
from tests.reliability.rig import Rig

UPDATE = "RoomService.UpdateParticipant"
CREATE = "RoomService.CreateRoom"
DIALLING = "SIP.CreateSIPParticipant"


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


async def test_a_dial_stays_until_taken_with_the_leg_it_places() -> None:
    """A dial's answer says what to undo (its leg): answered, it stays until whoever acts
    on the answer takes it; the others leave at their answer."""
    clock = ManualClock()
    inflight = InFlight(clock)
    loop = asyncio.get_running_loop()
    first: asyncio.Future[None] = loop.create_future()
    second: asyncio.Future[None] = loop.create_future()
    write: asyncio.Future[None] = loop.create_future()
    placed = inflight.add(DIAL, first, 30.0, Dialing("supervisor-a-1", "consult-a"), kept=True)
    inflight.add(WRITE, write, 10.0)
    other = inflight.add(DIAL, second, 40.0, Dialing("supervisor-a-2", "consult-a"), kept=True)
    assert dials(inflight) == [placed, other]  # in the order they were placed
    assert [dialing(r) for r in dials(inflight)] == [
        Dialing("supervisor-a-1", "consult-a"),
        Dialing("supervisor-a-2", "consult-a"),
    ]
    assert (placed.deadline, placed.lands_until) == (30.0, 30.0 + LATE_ANSWER_S)
    first.set_result(None)
    write.set_result(None)
    await asyncio.sleep(0)
    assert dials(inflight) == [placed, other]  # answered, not taken: its leg is someone's
    assert inflight.requests(WRITE) == []
    inflight.taken(placed)
    assert dials(inflight) == [other]
    second.cancel()
    await asyncio.sleep(0)
    assert dials(inflight) == [other]  # cut short: cleanup's to end, once it shows


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


def _when_legs_show(sandbox: Sandbox) -> dict[str, float]:
    """The clock time each supervisor leg joined a room at (its dial's request landed)."""
    shown: dict[str, float] = {}

    def joined(event: Event) -> None:
        who = event.participant.identity if event.participant is not None else ""
        if event.kind == "participant_joined" and who.startswith("supervisor-"):
            shown.setdefault(who, sandbox.manual_clock.now())

    sandbox.subscribe(joined)
    return shown


def _hang_up_while_dialling(
    sandbox: Sandbox, transfer: Transfer, dial_step: str, after: float
) -> dict[str, Any]:
    """The caller hangs up `after` seconds into `dial_step`; what the transfer's registry
    held when it left the step for `caller_hung_up`."""
    seen: dict[str, Any] = {}

    def moved(_: str, to: str, __: str) -> None:
        if to == dial_step:
            hang_up = lambda: sandbox.hang_up("call-1", CALLER_IDENTITY)  # noqa: E731
            sandbox.manual_clock.call_later(after, hang_up)
        elif to == "caller_hung_up":
            seen["dials"] = [dialing(r) for r in dials(transfer.inflight)]
            seen["lands_until"] = [r.lands_until for r in dials(transfer.inflight)]
            seen["at"] = sandbox.manual_clock.now()
            seen["dialing"] = transfer.dialing

    transfer.add_listener(moved)
    return seen


async def test_a_dial_cut_short_by_the_caller_hanging_up_is_cancelled_once_its_leg_shows() -> None:
    """CreateSIPParticipant lands 6 s late; the caller hangs up 1 s into the dial: the dial
    stays in the registry (with its leg), and cleanup cancels the leg as soon as it shows
    (the phone gets CANCEL), then settles it."""
    scenario = {
        "phones": {"default": {"answer": "no_answer"}},
        "faults": [{"rpc": DIALLING, "delay": 6.0}],
    }
    async with live(scenario) as (sandbox, engine, _):
        shown = _when_legs_show(sandbox)
        transfer = await engine.start(flow("warm_transfer"), room="call-1")
        seen = _hang_up_while_dialling(sandbox, transfer, "dial_supervisor", 1.0)
        await drive(sandbox, engine, transfer.outcome)
        outcome = await transfer.outcome
        logs = [log for log in sandbox.phone_logs if log.direction == "outbound"]
    assert outcome.kind == "caller_hung_up"
    leg = f"supervisor-{transfer.transfer_id}-1"
    assert seen["dials"] == [Dialing(leg, consult_room(transfer.transfer_id))]
    assert seen["dialing"] == Dialing(leg, consult_room(transfer.transfer_id))
    assert shown[leg] > seen["at"]  # the leg showed after the transfer had ended
    (phone,) = logs
    assert phone.received == ["INVITE", "CANCEL"]
    assert phone.ended_at is not None
    assert phone.ended_at - shown[leg] <= 0.5  # as it showed
    assert dials(transfer.inflight) == []  # settled
    assert transfer.dialing is None


async def test_a_ring_group_with_two_dials_in_flight_at_cleanup_cancels_both() -> None:
    """The group rings 100 s and both dials land 95 s late; the caller hangs up 1 s into
    the group: both are in the registry at cleanup, whose budget (`BUDGET_S`, 90 s) stretches
    to their deadline and a late answer's margin, and each leg is cancelled as soon as it
    shows, long after the budget alone would have ended."""
    scenario = {
        "phones": {"default": {"answer": "no_answer"}},
        "faults": [{"rpc": DIALLING, "delay": 95.0, "times": 2}],
    }
    text = (ROOT / "flows" / "ring_group.yaml").read_text()
    assert "ring_timeout: 20" in text
    slow = load_flow(text.replace("ring_timeout: 20", "ring_timeout: 100"))
    async with live(scenario) as (sandbox, engine, _):
        shown = _when_legs_show(sandbox)
        transfer = await engine.start(slow, room="call-1")
        seen = _hang_up_while_dialling(sandbox, transfer, "dial_supervisors", 1.0)
        await drive(sandbox, engine, transfer.outcome)
        outcome = await transfer.outcome
        logs = [log for log in sandbox.phone_logs if log.direction == "outbound"]
    assert outcome.kind == "caller_hung_up"
    legs = [f"supervisor-{transfer.transfer_id}-{n}" for n in (1, 2)]
    room = consult_room(transfer.transfer_id)
    assert seen["dials"] == [Dialing(leg, room) for leg in legs]
    assert [a.result for a in outcome.attempts] == ["dialing", "dialing"]  # cut short
    assert all(shown[leg] > seen["at"] + BUDGET_S for leg in legs)
    assert len(logs) == 2
    for phone in logs:
        assert phone.received == ["INVITE", "CANCEL"]
        assert phone.ended_at is not None
        assert phone.ended_at - shown[phone.identity] <= 0.5
    assert dials(transfer.inflight) == []
