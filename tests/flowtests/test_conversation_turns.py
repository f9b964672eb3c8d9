"""A scripted supervisor in a conversational brief (`on_brief: {ask: [...]}`) asks first,
then reacts (its key, a hang-up), and each turn takes the time to say it: a conversation's
`timeout` can end it mid-question in simulation."""

from __future__ import annotations

from orchestrator.flowtests import load_flow_test, run_flow_test
from orchestrator.testing import SPEAKING_RATE
from tests.conftest import ROOT
from tests.flowtests.conftest import Write

CONVERSATION = ROOT / "examples" / "conversational_brief.yaml"
QUESTION = "why are they calling?"


def _phone(on_brief: str, decide_after: float = 10) -> str:
    return (
        f"phones:\n  default: {{answer: 2, decide_after: {decide_after}, on_brief: {on_brief}}}\n"
    )


def test_the_keypad_is_pressed_after_the_questions_are_answered(write: Write) -> None:
    # The key used to be pressed `decide_after` after answering, before the conversation
    # (which starts later) asked anything.
    body = _phone(f'{{ask: ["{QUESTION}"], then: decline, by: keypad}}') + (
        f'expect: {{outcome: returned, reason: declined, supervisor_asked: ["{QUESTION}"]}}\n'
    )
    result = run_flow_test(load_flow_test(write(body, flow=CONVERSATION)))
    assert result.failures == []
    assert result.said_to_supervisor[-1].startswith("They called about:")


def test_a_supervisor_who_asks_then_hangs_up_hears_the_answer_first(write: Write) -> None:
    body = _phone(f'{{ask: ["{QUESTION}"], then: hangup}}') + (
        "expect: {outcome: returned, reason: supervisor_left, "
        f'supervisor_asked: ["{QUESTION}"]}}\n'
    )
    result = run_flow_test(load_flow_test(write(body, flow=CONVERSATION)))
    assert result.failures == []
    assert result.said_to_supervisor[-1].startswith("They called about:")


def test_questions_take_time_so_the_timeout_can_end_the_conversation(write: Write) -> None:
    # The brief's timeout is 60 s; the supervisor starts talking at 50 s with a question
    # that takes longer than the 10 s left to say.
    question = "tell me, " * 15 + "why are they calling?"
    assert len(question) / SPEAKING_RATE > 10
    body = _phone(f'{{ask: ["{question}"], then: accept}}', decide_after=50) + (
        "expect: {outcome: returned, reason: timeout}\n"
    )
    result = run_flow_test(load_flow_test(write(body, flow=CONVERSATION)))
    assert result.failures == []
    # A short one, at the same moment, is answered and accepted in time.
    body = _phone(f'{{ask: ["{QUESTION}"], then: accept}}', decide_after=50) + (
        "expect: {outcome: merged}\n"
    )
    assert run_flow_test(load_flow_test(write(body, flow=CONVERSATION))).failures == []
