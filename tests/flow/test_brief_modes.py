"""The brief's `mode` and `instructions` in the flow language."""

from __future__ import annotations

from orchestrator import load_flow
from orchestrator.flow.model import BriefStep
from tests.conftest import BASE, problems_of

BRIEF = 'brief_sup: {type: brief, say: "Call from {caller_number}"'


def with_brief(extra: str) -> str:
    return BASE.replace(BRIEF, BRIEF + ", " + extra)


def test_a_brief_is_a_template_unless_it_says_conversation() -> None:
    step = load_flow(BASE).steps["brief_sup"]
    assert isinstance(step, BriefStep)
    assert (step.mode, step.instructions) == ("template", None)
    step = load_flow(with_brief('mode: conversation, instructions: "Be brief."')).steps[
        "brief_sup"
    ]
    assert isinstance(step, BriefStep)
    assert (step.mode, step.instructions) == ("conversation", "Be brief.")


def test_instructions_without_the_conversation_mode_name_the_fix() -> None:
    (problem,) = problems_of(with_brief('instructions: "Be brief."'))
    assert problem.startswith("8:")
    assert "add `mode: conversation` or remove instructions" in problem


def test_an_unknown_mode_lists_the_two() -> None:
    (problem,) = problems_of(with_brief("mode: chat"))
    assert "steps.brief_sup.mode" in problem
    assert "'template'" in problem
    assert "'conversation'" in problem


def test_a_conversation_cannot_also_take_the_callers_sessions_voice() -> None:
    (problem,) = problems_of(with_brief("mode: conversation, accept_by: [dtmf, voice]"))
    assert "remove voice from accept_by" in problem
