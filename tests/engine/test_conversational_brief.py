"""The conversational brief (`brief` with `mode: conversation`): the supervisor asks, the
briefing session answers from the call's facts, and the brief ends on a spoken or keyed
decision, its timeout, the supervisor leaving or the caller hanging up, closing the session."""

from __future__ import annotations

import asyncio
from typing import Any

from orchestrator import load_flow
from orchestrator.simulate import drive
from orchestrator.testing import MediaCall
from tests.engine.conftest import ROOT, live, run

FLOW = load_flow(ROOT / "examples" / "conversational_brief.yaml")
QUESTIONS = ["how long have they waited?", "why are they calling?"]


def talk(**brief: Any) -> dict[str, Any]:
    return {"phones": {"default": {"answer": 1.0, "decide_after": 2.0, "on_brief": brief}}}


def actions(calls: list[MediaCall]) -> list[str]:
    return [c.action for c in calls]


async def test_the_supervisor_asks_then_connects_by_voice() -> None:
    result, _ = await run(FLOW, talk(ask=QUESTIONS, then="accept"))
    assert (result.outcome.kind, result.outcome.reason) == ("merged", None)
    calls = result.media.calls
    asked = [c.text for c in calls if c.action == "supervisor_asked"]
    answers = [c.text for c in calls if c.action == "said_to_supervisor"]
    assert asked == QUESTIONS
    assert answers[0] == "The caller has waited about 1 second."  # briefed 1 s in
    assert answers[1] == "They called about: a billing dispute."
    said = [c.text for c in calls if c.action == "supervisor_said"]
    assert said == ["connect"]
    # The session closed before the merge, and none of it was said to the caller.
    order = actions(calls)
    assert order.index("brief_closed") < order.index("stop_hold")
    to_caller = [c.text for c in calls if c.action == "say_to_caller"]
    assert to_caller == [FLOW.steps["hold_caller"].say]  # type: ignore[union-attr]


async def test_a_spoken_decline_gives_the_caller_back() -> None:
    result, _ = await run(FLOW, talk(ask=["why are they calling?"], then="decline"))
    assert (result.outcome.kind, result.outcome.reason) == ("returned", "declined")
    assert actions(result.media.calls).count("brief_closed") == 1


async def test_the_keypad_still_decides_at_once() -> None:
    # No questions: a phone that asks presses its key once they are answered
    # (tests/flowtests/test_conversation_turns.py).
    result, _ = await run(FLOW, talk(ask=[], then="accept", by="keypad"))
    assert result.outcome.kind == "merged"
    assert "supervisor_said" not in actions(result.media.calls)  # the key, not a word
    assert result.outcome.hold_seconds == 3.0  # decided 2 s after answering at 1 s


async def test_a_silent_supervisor_times_the_conversation_out() -> None:
    result, _ = await run(FLOW, talk(ask=[], then="silent"))
    assert (result.outcome.kind, result.outcome.reason) == ("returned", "timeout")
    assert result.outcome.hold_seconds == 61.0  # answered at 1 s, the 60 s timeout
    assert actions(result.media.calls).count("brief_closed") == 1


async def test_the_supervisor_hanging_up_ends_the_conversation() -> None:
    result, _ = await run(FLOW, talk(ask=[], then="hangup"))
    assert result.outcome.reason == "supervisor_left"
    assert actions(result.media.calls).count("brief_closed") == 1


async def test_the_caller_hanging_up_ends_the_conversation() -> None:
    scenario = talk(ask=QUESTIONS, then="silent") | {"caller": {"hangup_after": 10.0}}
    result, _ = await run(FLOW, scenario)
    assert result.outcome.kind == "caller_hung_up"
    order = actions(result.media.calls)
    assert order.count("brief_closed") == 1
    assert "supervisor_asked" in order  # hung up in the middle of it


async def test_the_callers_voice_path_cannot_accept_a_conversational_brief() -> None:
    """agents-js #2221: the held caller's "thank you" connected the call. Here the caller's
    session deciding (`Transfer.decide`, the `accept_by: [voice]` path) is not the brief's:
    only the briefing session's own tools or the supervisor's keypad decide."""
    async with live(talk(ask=[], then="silent")) as (sandbox, engine, media):
        transfer = await engine.start(FLOW, room="call-1")
        briefing = sandbox.manual_clock

        async def until_briefed() -> None:
            while "brief" not in actions(media.calls):
                await briefing.sleep(0.5)

        await drive(sandbox, engine, asyncio.ensure_future(until_briefed()))
        transfer.decide(True)  # what the caller's session would do on "yes, thank you"
        await drive(sandbox, engine, transfer.outcome)
        outcome = await transfer.outcome
        assert (outcome.kind, outcome.reason) == ("returned", "timeout")
