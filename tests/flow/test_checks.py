"""Semantic checks: references, reachability, loop budgets, phase order, defaults."""

from __future__ import annotations

import pytest

from tests.conftest import BASE, problems_of


def test_base_flow_is_valid() -> None:
    assert problems_of(BASE) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            ("next: merge_call}", "next: merge_cal}"),
            "8:68: steps.brief_sup.next: unknown step 'merge_cal' (did you mean 'merge_call'?)",
            id="unknown-next",
        ),
        pytest.param(
            ("fallback: back", "fallback: bak"),
            "2:11: fallback: unknown step 'bak' (did you mean 'back'?)",
            id="unknown-fallback",
        ),
        pytest.param(
            ("to: [sup]", "to: [supp]"),
            "7:31: unknown target 'supp' (did you mean 'sup'?); define it under targets",
            id="unknown-target",
        ),
        pytest.param(
            ('sup: {number: "+15105550100"}', 'sup: {uri: "sip:a@b.example"}'),
            "7:31: target 'sup' has a uri; a dial step needs a target with a number",
            id="dial-uri",
        ),
        pytest.param(
            ("to: [sup]", "to: [sup, sup]"),
            "7:30: a target is listed twice in the chain",
            id="duplicate-target",
        ),
        pytest.param(
            ("leave: {type: exit}", "leave: {type: exit}\n  orphan: {type: hangup}"),
            "11:3: step 'orphan' is unreachable from 'hold_caller'",
            id="unreachable",
        ),
        pytest.param(
            ("  leave:", "  timeout:"),
            "10:3: step name 'timeout' is reserved",
            id="reserved-event-name",
        ),
        pytest.param(
            ("  back:", "  requested:"),
            "11:3: step name 'requested' is reserved",
            id="reserved-builtin-state",
        ),
        pytest.param(
            (
                "{type: hold, next: dial_sup}",
                "{type: hold, next: dial_sup, outcomes: {exhausted: back}}",
            ),
            "6:56: outcome 'exhausted' only happens on dial steps and steps with max_visits",
            id="exhausted-without-budget",
        ),
        pytest.param(
            ("{type: hold, next: dial_sup}", "{type: announce, say: Hi, next: dial_sup}"),
            "7:20: step 'dial_sup' dials while the caller is not on hold",
            id="dial-without-hold",
        ),
        pytest.param(
            ("next: merge_call}", "next: leave}\n  other: {type: hangup}"),
            "11:17: step 'leave' can run before a merge",
            id="exit-without-merge",
        ),
        pytest.param(
            (
                "next: merge_call}",
                "next: dial_again}\n  dial_again: {type: dial, to: [sup2], next: merge_call}",
            ),
            "10:22: step 'dial_again' can dial while another supervisor is still on the line",
            id="second-live-leg",
        ),
        pytest.param(
            ("fallback: back", "fallback: back\non_max_hold: dial_sup"),
            "3:14: after max_hold the flow can still reach",
            id="max-hold-back-into-hold",
        ),
    ],
)
def test_semantic_problem(change: tuple[str, str], expected: str) -> None:
    text = BASE.replace(*change)
    if "sup2" in text:
        text = text.replace(
            '  sup: {number: "+15105550100"}',
            '  sup: {number: "+15105550100"}\n  sup2: {number: "+15105550101"}',
        )
    assert any(p.startswith(expected) for p in problems_of(text)), problems_of(text)


def test_all_problems_reported_at_once() -> None:
    text = BASE.replace("fallback: back\n", "")
    found = problems_of(text)
    assert len(found) == 6
    assert "outcome(s) no_answer, busy, declined, voicemail, unavailable" in found[2]


def test_outcomes_failed_catches_every_failure() -> None:
    text = BASE.replace("fallback: back\n", "").replace(
        "  back: {type: return_to_agent}", "  back: {type: return_to_agent}\non_max_hold: back"
    )
    for step in ("hold, next: dial_sup", "dial, to: [sup], next: brief_sup", "merge, next: leave"):
        text = text.replace(step + "}", step + ", outcomes: {failed: back}}")
    text = text.replace("next: merge_call}", "next: merge_call, outcomes: {failed: back}}")
    assert problems_of(text) == []


LOOP = """name: loop
fallback: back
targets:
  sup: {number: "+15105550100"}
steps:
  hold_caller: {type: hold, next: dial_sup}
  dial_sup: {type: dial, to: [sup], next: brief_sup}
  brief_sup: {type: brief, say: Hi, next: merge_call, outcomes: {declined: sorry}}
  sorry: {type: announce, say: Still trying, next: wait}
  wait: {type: announce, say: Please wait, next: sorry}
  merge_call: {type: merge, next: leave}
  leave: {type: exit}
  back: {type: return_to_agent}
"""


class TestLoops:
    def test_loop_without_budget(self) -> None:
        assert problems_of(LOOP) == [
            "9:3: the loop through sorry -> wait has no budget; set max_visits on one of its steps"
        ]

    def test_budget_makes_it_valid(self) -> None:
        text = LOOP.replace("next: wait}", "next: wait, max_visits: 3}")
        assert problems_of(text) == []

    def test_exhausted_must_leave_the_loop(self) -> None:
        text = LOOP.replace(
            "next: wait}", "next: wait, max_visits: 3, outcomes: {exhausted: wait}}"
        )
        assert any("leads back into its loop" in p for p in problems_of(text))

    def test_dial_chain_is_a_budget(self) -> None:
        text = LOOP.replace("next: wait}", "next: dial_sup}")
        text = text.replace(
            "  wait: {type: announce, say: Please wait, next: sorry}\n", ""
        ).replace("next: brief_sup}", "next: brief_sup, outcomes: {exhausted: back}}")
        assert problems_of(text) == []


def test_no_terminal_step() -> None:
    text = """name: t
fallback: chat
steps:
  chat: {type: announce, say: Hi, next: chat, max_visits: 2, outcomes: {exhausted: other}}
  other: {type: announce, say: Hi, next: chat, max_visits: 1, outcomes: {exhausted: chat}}
"""
    assert any("no terminal step" in p for p in problems_of(text))


# Found in the first review (was tests/test_review_regressions.py).
def test_a_step_name_spelled_like_the_key_marker() -> None:
    found = problems_of(BASE.replace("  back:", '  "[key]":'))
    assert found[0].startswith("11:3: name in steps: names are lowercase snake_case")


# Found in the first review (was tests/test_review_regressions.py).
@pytest.mark.parametrize(
    ("change", "step"),
    [
        (
            ("{type: dial, to: [sup], next: brief_sup}", "{type: dial, to: [sup], next: back}"),
            "back",
        ),
        (("next: merge_call}", "next: bye}\n  bye: {type: hangup}"), "bye"),
    ],
    ids=["answered-then-returned", "accepted-then-hung-up"],
)
def test_terminal_steps_never_strand_an_answered_supervisor(
    change: tuple[str, str], step: str
) -> None:
    assert any(
        f"step '{step}' can run while an answered supervisor waits on the line" in p
        for p in problems_of(BASE.replace(*change))
    )


# Found in the first review (was tests/test_review_regressions.py).
@pytest.mark.parametrize("name", ["note", "state", "end", "subgraph"])
def test_diagram_keywords_are_reserved(name: str) -> None:
    assert any(
        f"step name '{name}' is reserved" in p
        for p in problems_of(
            BASE.replace("  back:", f"  {name}:").replace("fallback: back", f"fallback: {name}")
        )
    )


# Found in the first review (was tests/test_review_regressions.py).
def test_target_placeholder_only_where_there_is_a_target() -> None:
    text = BASE.replace(
        "back: {type: return_to_agent}",
        'back: {type: return_to_agent, say: "Sorry, {target} is busy"}',
    )
    assert problems_of(text) == [
        "11:38: steps.back.say: {target} is only known in brief and cold_transfer steps"
    ]
