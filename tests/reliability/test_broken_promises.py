"""Promises an outside attacker broke, one class of break per group (issue 14).

Each test failed before its fix. They sit with the catalogue, run through the same `Rig`
(sandbox over HTTP, manual clock) and end with the same invariants.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator import TransferError, TransferInProgress
from orchestrator.engine import Transfer, TransferOutcome
from orchestrator.engine.ports import MEDIA_TIMEOUT_S
from orchestrator.sandbox import Event
from orchestrator.sandbox.core import Flavor
from tests.reliability import invariants
from tests.reliability.cases import phones
from tests.reliability.figures import FIGURES
from tests.reliability.harness import flow, warm
from tests.reliability.rig import Rig

HAPPY = phones({"answer": 2.0, "decide_after": 1.0})
DECLINES = {"phones": {"default": {"answer": 0.0, "on_brief": "decline", "decide_after": 0.0}}}
CHECKPOINT = ("transfer.id", "transfer.state", "transfer.consult_room")


async def _wait(transfer: Transfer) -> TransferOutcome:
    return await transfer.outcome


def _no_leaks(rig: Rig, *, logs: bool = True) -> None:
    """INV-LEAK (and INV-LOG) only, for cases the other invariants do not fit."""
    FIGURES.invariant_checks += 1
    assert invariants.check_leaks(rig) == []
    assert not logs or invariants.check_logs(rig) == []
    rig.verified = True


def _checkpoint(rig: Rig) -> dict[str, str]:
    member = rig.sandbox.world.member(rig.room, rig.callers[rig.room])
    assert member is not None
    return {k: v for k, v in member.info.attributes.items() if k in CHECKPOINT and v}


# -- 1. one waiter must not take the outcome from everyone ----------------------------------


async def test_a_cancelled_waiter_leaves_the_outcome_to_the_others() -> None:
    async with Rig(HAPPY, fault="waiter-cancelled") as rig:
        transfer = await rig.start(warm())
        waiters = [asyncio.ensure_future(_wait(transfer)) for _ in range(3)]
        await rig.advance(0.5)
        waiters[0].cancel()  # as `asyncio.wait_for(transfer.outcome, ...)` does on timeout
        (outcome,) = await rig.finish()
        rig.verify()
        assert outcome.kind == "merged"
        assert waiters[0].cancelled()
        assert [w.result().kind for w in waiters[1:]] == ["merged", "merged"]


async def test_a_cancelled_waiter_does_not_break_closing_the_engine() -> None:
    async with Rig(HAPPY, fault="waiter-cancelled-then-aclose") as rig:
        transfer = await rig.start(warm())
        waiter = asyncio.ensure_future(_wait(transfer))
        await rig.advance(0.5)
        waiter.cancel()
        await rig.settle()
        closing = asyncio.ensure_future(rig.engine.aclose())
        await rig.run_until(closing)  # raised CancelledError
        (outcome,) = await rig.finish()
        rig.verify()
        assert (outcome.kind, outcome.reason) == ("failed", "cancelled")


# -- 2. single flight per caller, across engines (workers) ---------------------------------


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


# -- 3. max_hold bounds the hold whatever on_max_hold does ----------------------------------

COLD_AFTER_MAX_HOLD = (
    ("fallback: return_to_agent", "fallback: return_to_agent\non_max_hold: to_desk"),
    (
        "targets:\n",
        'targets:\n  front_desk:\n    number: "+15105550199"\n',
    ),
    (
        "  return_to_agent:\n",
        "  to_desk:\n    type: cold_transfer\n    to: front_desk\n    timeout: 300\n"
        "  return_to_agent:\n",
    ),
    ("max_hold: 120", "max_hold: 10"),
)


async def test_max_hold_holds_when_on_max_hold_is_a_cold_transfer() -> None:
    scenario = phones({"answer": 100.0}, n0199={"answer": 250.0}, n0100={"answer": 100.0})
    async with Rig(scenario, fault="max-hold-then-cold-transfer") as rig:
        outcome = await rig.run(flow("warm_transfer", *COLD_AFTER_MAX_HOLD))  # INV-HOLD
        assert outcome.kind in ("cold_transferred", "returned")
        assert outcome.hold_seconds <= 11.0


# -- 4. recovering a merge whose supervisor has gone ----------------------------------------


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
        _no_leaks(rig)  # (a recovery has no Transfer: the outcome invariants do not apply)


# -- 5. a supervisor leg's not_found is checked two ways ------------------------------------


async def test_not_found_from_hang_up_and_its_check_rings_no_second_phone() -> None:
    async with Rig(DECLINES, fault="not-found-twice-on-a-declined-leg") as rig:

        def arm() -> None:
            rig.sandbox.add_fault("RoomService.RemoveParticipant", "not_found")
            rig.sandbox.add_fault("RoomService.GetParticipant", "not_found")

        rig.on_state("brief_supervisor", arm)
        outcome = await rig.run(flow("supervisor_chain"))  # INV-DIAL: one live leg at most
        assert outcome.kind == "returned"
        assert [a.result for a in outcome.attempts] == ["answered"] * 3


# -- 6. a hangup step hangs up ----------------------------------------------------------------

HANGUP_FLOW = (("type: return_to_agent", "type: hangup"),)


@pytest.mark.parametrize("code", ["unavailable", "not_found"])
async def test_a_hangup_step_whose_first_remove_fails_still_hangs_up(code: str) -> None:
    async with Rig(DECLINES, fault=f"hangup-step-remove-{code}") as rig:
        rig.on_state(
            "return_to_agent",
            lambda: rig.sandbox.add_fault("RoomService.RemoveParticipant", code),
        )
        outcome = await rig.run(flow("warm_transfer", *HANGUP_FLOW))
        assert (outcome.kind, outcome.reason) == ("hung_up", "declined")
        assert rig.sandbox.world.member(rig.room, rig.callers[rig.room]) is None


async def test_a_hangup_step_that_cannot_hang_up_says_so() -> None:
    async with Rig(DECLINES, fault="hangup-step-remove-always-fails") as rig:
        rig.on_state(
            "return_to_agent",
            lambda: rig.sandbox.add_fault(
                "RoomService.RemoveParticipant", "unavailable", times=50
            ),
        )
        outcome = await rig.run(flow("warm_transfer", *HANGUP_FLOW))  # checkpoint cleared
        assert (outcome.kind, outcome.reason) == ("returned", "hangup_failed")
        assert rig.sandbox.world.member(rig.room, rig.callers[rig.room]) is not None


# -- 7. media that never answers -------------------------------------------------------------


@pytest.mark.parametrize("call", ["say_to_caller", "start_hold", "brief", "screen_answer"])
async def test_media_that_never_answers_does_not_stall_the_transfer(call: str) -> None:
    async with Rig(HAPPY, fault=f"media-stalls-{call}", failing_media={call: "stall"}) as rig:
        outcome = await rig.run(warm(max_hold=60))
        expected: dict[str, Any] = {
            "say_to_caller": ("returned", "failed"),
            "start_hold": ("returned", "failed"),
            "brief": ("merged", None),  # the supervisor's 1 decides while it hangs
            "screen_answer": ("merged", None),  # unscreened counts as a person, as the worker
        }
        assert (outcome.kind, outcome.reason) == expected[call]
        assert rig.clock.now() < 200


async def test_a_brief_that_never_ends_fails_once_its_text_had_time() -> None:
    silent = {"phones": {"default": {"answer": 1.0, "on_brief": "silent"}}}
    async with Rig(
        silent, fault="media-stalls-brief-silent", failing_media={"brief": "stall"}
    ) as rig:
        outcome = await rig.run(warm())
        assert (outcome.kind, outcome.reason) == ("returned", "failed")
        assert outcome.hold_seconds < 60


# -- 8. closing the engine while a transfer starts -------------------------------------------


@pytest.mark.parametrize("k", [1, 2])
async def test_closing_the_engine_while_a_transfer_starts_is_cancelled(k: int) -> None:
    async with Rig(HAPPY, fault=f"aclose-during-start-{k}") as rig:
        rig.in_flight(k, rig.drain)
        with pytest.raises(TransferError) as refused:
            await rig.start(warm())
        assert (refused.value.reason, refused.value.retryable) == ("cancelled", False)
        assert rig.media.calls == []
        rig.verify()  # and no claim left on the caller


# -- found by the attacker of this round ------------------------------------------------------

SILENT = {"phones": {"default": {"answer": 2.0, "on_brief": "silent"}}}


@pytest.mark.parametrize("gap", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("flavor", ["oss", "cloud"])
async def test_no_merge_with_a_supervisor_who_hung_up(flavor: Flavor, gap: float) -> None:
    """The supervisor's `1` arrives with, or up to 0.9 s after, their hang-up (inside the
    departure's grace): `in_room` opened the paths of nobody and reported `merged`, and the
    AI left the caller alone."""
    async with Rig(SILENT, flavor=flavor, fault=f"merge-after-hang-up-{flavor}-{gap}") as rig:
        transfer = await rig.start(warm())
        await rig.advance(3.0)  # answered at 2 s, briefing
        assert transfer.state == "brief_supervisor"
        leg = rig.supervisor()
        assert leg is not None
        rig.supervisor_hangs_up()
        rig.at(gap, lambda: transfer.dtmf(leg[0], leg[1], "1"))
        (outcome,) = await rig.finish()
        rig.verify()
        assert (outcome.kind, outcome.reason) == ("returned", "supervisor_left")
        assert "agent_leave" not in [call.action for call in rig.media.calls]


async def test_a_caller_who_rejoins_during_the_brief_is_not_heard_by_the_supervisor() -> None:
    """`in_room`: after a caller's reconnect, the supervisor's connected leg subscribed to
    the caller's new track and heard the caller for the rest of the brief."""
    scenario = {"phones": {"default": {"answer": 2.0, "on_brief": "accept", "decide_after": 6.0}}}
    async with Rig(scenario, flavor="oss", fault="in-room-caller-rejoins-in-brief") as rig:
        transfer = await rig.start(warm())
        rig._unsubscribe.append(rig.sandbox.subscribe(lambda e: _joins(rig, transfer, e)))
        await rig.advance(4.0)
        assert transfer.state == "brief_supervisor"
        leg = rig.supervisor()
        assert leg is not None
        rig.sandbox.reconnect(rig.room, rig.callers[rig.room])
        await rig.advance(2.0)
        assert transfer.state == "brief_supervisor"
        assert not rig.sandbox.hears(rig.room, leg[1], rig.callers[rig.room])
        (outcome,) = await rig.finish()
        rig.verify()
        assert outcome.kind == "merged"


def _joins(rig: Rig, transfer: Transfer, event: Event) -> None:
    """What a worker feeds besides departures and digits: joins and published tracks."""
    who = event.participant.identity if event.participant is not None else ""
    if event.kind == "participant_joined":
        transfer.participant_joined(event.room, who)
    elif event.kind == "track_published" and event.participant is not None:
        for track in event.participant.tracks:
            transfer.track_published(event.room, who, track.sid)


@pytest.mark.parametrize("who", ["agent", "supervisor"])
async def test_only_a_callers_phone_leg_can_be_transferred(who: str) -> None:
    """`caller_identity` naming the AI agent ran the whole flow with the agent as the
    caller; naming one of our supervisor legs is as wrong."""
    async with Rig(HAPPY, fault=f"caller-identity-{who}") as rig:
        identity = who
        if who == "supervisor":
            identity = rig.sandbox.place_caller(rig.room, "+15105550100")
            leg = {"transfer.id": "abcdefghijkl", "transfer.role": "supervisor"}
            rig.sandbox.world.set_attributes(rig.room, identity, leg)
        with pytest.raises(TransferError) as refused:
            await rig.start(warm(), caller_identity=identity)
        assert refused.value.reason == "config_error"
        assert "caller_identity" in str(refused.value)
        assert rig.media.calls == []
        if who == "supervisor":
            rig.sandbox.remove(rig.room, identity)
        _no_leaks(rig, logs=False)  # the fake leg, placed by hand, is named after its number


# -- found by the second round of attacks ----------------------------------------------------


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


async def test_hold_audio_that_will_not_stop_at_max_hold_is_asked_again() -> None:
    """The first `stop_hold` at `max_hold` never returns: the engine asks again (a second
    after its 10 s bound) instead of leaving the caller on hold through a 4-minute REFER."""
    scenario = phones({"answer": 100.0}, n0199={"answer": 250.0}, n0100={"answer": 100.0})
    stalls = {"stop_hold": "stall-once"}
    async with Rig(scenario, fault="max-hold-stop-hold-stalls", failing_media=stalls) as rig:
        await rig.start(flow("warm_transfer", *COLD_AFTER_MAX_HOLD))
        (outcome,) = await rig.finish()
        assert rig.held(rig.transfer) <= 10 + MEDIA_TIMEOUT_S + 1.0
        assert outcome.hold_seconds <= 10 + MEDIA_TIMEOUT_S + 1.0
        _no_leaks(rig)  # (the hold is over max_hold + 1 s by the media's own delay)
