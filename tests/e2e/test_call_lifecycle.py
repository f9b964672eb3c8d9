"""A call ends for everyone: what the phones receive after the outcome.

After a merge either party may hang up first: the other's phone gets BYE (the engine follows
the merged call and deletes the room). A caller who hangs up while a supervisor's phone
rings ends that ringing (CANCEL) with both merge strategies, and a supervisor who would have
answered a moment later never connects. A supervisor who declines by digit is hung up before
the AI says a word to the caller (measured with the real AI's voice in test_worker.py).

On the real stack every bound is measured on the wire, between the SIP messages the two
phones' traces stamp (both sipps run on this machine's clock), and counted in the figures.
The open-source server has no MoveParticipant: a `move` transfer's merge cannot run there,
but its ringing (the leg dialled into a consult room) can, so the engine is told the server
allows moves for that case.
"""

from __future__ import annotations

import time

import pytest

from orchestrator.livekit.probe import Capabilities
from orchestrator.sandbox.scenario import PhoneSpec
from tests.e2e.harness.figures import FIGURES
from tests.e2e.harness.real import RealTarget
from tests.e2e.harness.targets import SUPERVISOR, Target
from tests.e2e.harness.transfers import Run, flow, run

ACCEPTS = PhoneSpec(answer=1.0, on_brief="accept", decide_after=1.5)
RELEASE_S = 2.0
"""The issue's bound: the other phone's BYE (or the ringing phone's CANCEL) within 2 s."""


def _leg(target: Target) -> str:
    """The Call-ID of the (last) call the supervisors' phones received."""
    assert isinstance(target, RealTarget)
    assert target.carrier is not None
    return target.carrier.invites()[-1].call_id


async def _heard_each_other(target: Target) -> None:
    """A person hangs up a call they talked on: on the real stack, until both phones got
    sound from the other after the merge."""
    if isinstance(target, RealTarget):
        await target.heard_each_other(time.monotonic(), 5, 10)


async def _caller_hangs_up(target: Target) -> None:
    await _heard_each_other(target)
    await target.hang_up_caller()


async def _supervisor_hangs_up(target: Target) -> None:
    await _heard_each_other(target)
    await target.hang_up_supervisor()


def _assert_call_ended(result: Run, first: str) -> None:
    assert (result.outcome.kind, result.outcome.reason) == ("merged", None)
    assert result.call_end is not None
    assert (result.call_end.hung_up_first, result.call_end.released) == (first, True)
    assert result.leaks == []


async def test_caller_hangs_up_after_the_merge(target: Target) -> None:
    result = await run(
        target,
        flow("warm_transfer"),
        room="ends-caller",
        phones={SUPERVISOR: ACCEPTS},
        then=_caller_hangs_up,
    )
    _assert_call_ended(result, "caller")
    assert [c.received for c in result.calls] == [("INVITE", "ACK", "BYE")]
    if isinstance(target, RealTarget):
        assert target.caller is not None
        assert target.carrier is not None
        hung_up = target.caller.when("BYE", received=False)
        released = target.carrier.when(_leg(target), "BYE")
        assert hung_up is not None
        assert released is not None
        FIGURES.after_merge(released - hung_up)
        assert released - hung_up <= RELEASE_S


async def test_supervisor_hangs_up_after_the_merge(target: Target) -> None:
    result = await run(
        target,
        flow("warm_transfer"),
        room="ends-supervisor",
        phones={SUPERVISOR: ACCEPTS},
        then=_supervisor_hangs_up,
    )
    _assert_call_ended(result, "supervisor")
    assert [c.received for c in result.calls] == [("INVITE", "ACK")]  # it sent the BYE
    await target.until(lambda: "BYE" in target.caller_received(), 5, "the caller's BYE")
    if isinstance(target, RealTarget):
        assert target.caller is not None
        assert target.carrier is not None
        hung_up = target.carrier.when(_leg(target), "BYE", received=False)
        released = target.caller.when("BYE")
        assert hung_up is not None
        assert released is not None
        FIGURES.after_merge(released - hung_up)
        assert released - hung_up <= RELEASE_S


STRATEGIES = {
    "in_room": Capabilities(move=False, missing=frozenset()),
    "move": Capabilities(move=True, missing=frozenset()),
}


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
async def test_caller_hangs_up_while_the_supervisor_rings(target: Target, strategy: str) -> None:
    result = await run(
        target,
        flow("warm_transfer"),
        room=f"gone-ringing-{strategy.replace('_', '-')}",
        phones={SUPERVISOR: PhoneSpec(answer="no_answer")},
        on_ringing=lambda t: t.hang_up_caller(),
        capabilities=STRATEGIES[strategy],
    )
    assert result.outcome.kind == "caller_hung_up"
    assert [c.received for c in result.calls] == [("INVITE", "CANCEL")]
    assert result.leaks == []
    if isinstance(target, RealTarget):
        assert target.caller is not None
        assert target.carrier is not None
        hung_up = target.caller.when("BYE", received=False)
        cancelled = target.carrier.when(_leg(target), "CANCEL")
        assert hung_up is not None
        assert cancelled is not None
        FIGURES.ringing_cancel(cancelled - hung_up)
        assert cancelled - hung_up <= RELEASE_S


async def test_supervisor_answering_after_the_caller_left_never_connects(target: Target) -> None:
    """The phone would answer 3 s after it began ringing; the caller hangs up at the first
    ring: the CANCEL comes first, so the supervisor never picks up a dead call."""
    result = await run(
        target,
        flow("warm_transfer"),
        room="gone-before-answer",
        phones={SUPERVISOR: PhoneSpec(answer=3.0, on_brief="accept")},
        on_ringing=lambda t: t.hang_up_caller(),
    )
    assert result.outcome.kind == "caller_hung_up"
    assert [c.received for c in result.calls] == [("INVITE", "CANCEL")]
    assert not any(c.live for c in result.calls)
    assert result.leaks == []


async def test_decline_by_digit_hangs_up_before_the_ai_speaks(target: Target) -> None:
    phone = PhoneSpec(answer=1.0, on_brief="decline", decide_after=1.5)
    result = await run(target, flow("warm_transfer"), room="declined", phones={SUPERVISOR: phone})
    assert (result.outcome.kind, result.outcome.reason) == ("returned", "declined")
    assert [c.received for c in result.calls] == [("INVITE", "ACK", "BYE")]
    assert result.participants == ["agent", result.participants[-1]]  # the caller, with the AI
    assert result.leaks == []
    # Then the AI speaks to the caller again, after the leg was ended.
    actions = [c.action for c in result.media.calls]
    assert actions[-3:] == ["brief", "stop_hold", "say_to_caller"]
    if isinstance(target, RealTarget):  # the leg was ended within the bound of the press
        assert target.carrier is not None
        ((_, digit, pressed),) = target.carrier.pressed
        released = target.carrier.when(_leg(target), "BYE")
        assert digit == "2"
        assert released is not None
        assert 0 < released - pressed <= RELEASE_S
