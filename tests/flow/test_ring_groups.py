"""Ring groups in the flow language: how a dial step's `to` says "ring these at once", and
the positioned messages a designer gets for a group written wrong."""

from __future__ import annotations

import pytest

from orchestrator import load_flow
from orchestrator.flow.model import DialStep, Ringing
from tests.conftest import ROOT, problems_of

RING_GROUP = (ROOT / "flows" / "ring_group.yaml").read_text()
GROUP = "      - group: [alice, bob]       # rung together; the first to answer is kept\n"
LEAD = "      - team_lead                 # then the team lead, alone\n"


def dial_step(text: str) -> DialStep:
    step = load_flow(text).steps["dial_supervisors"]
    assert isinstance(step, DialStep)
    return step


def test_a_group_entry_is_one_place_of_the_chain_with_its_ring_time() -> None:
    step = dial_step(RING_GROUP)
    assert step.chain() == (Ringing(("alice", "bob"), 20.0), Ringing(("team_lead",)))
    assert step.target_names() == ["alice", "bob", "team_lead"]
    flow = load_flow(RING_GROUP)
    place, lead = step.chain()
    assert step.ring_time(place, flow.targets["alice"]) == 20.0  # the group's
    assert step.ring_time(lead, flow.targets["team_lead"]) == 25.0  # the target's own


def test_ring_simultaneous_makes_the_whole_list_one_group() -> None:
    text = RING_GROUP.replace(
        GROUP + "        ring_timeout: 20\n" + LEAD,
        "      - alice\n      - bob\n      - team_lead\n    ring: simultaneous\n",
    )
    step = dial_step(text)
    assert step.chain() == (Ringing(("alice", "bob", "team_lead")),)


def test_sequential_stays_the_default() -> None:
    flow = load_flow((ROOT / "flows" / "supervisor_chain.yaml").read_text())
    step = flow.steps["dial_supervisors"]
    assert isinstance(step, DialStep)
    assert step.ring == "sequential"
    assert [place.targets for place in step.chain()] == [("primary",), ("backup",), ("team_lead",)]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "group: [alice, bob]",
            "group: [alice, bobb]",
            "36:24: unknown target 'bobb' (did you mean 'bob'?); define it under targets",
        ),
        (
            "group: [alice, bob]",
            "group: [alice]",
            "36:16: steps.dial_supervisors.to.0.group: must have at least 2 entries",
        ),
        (
            "        ring_timeout: 20\n",
            "        ring_timout: 20\n",
            "37:9: unknown key 'ring_timout' in steps.dial_supervisors.to.0 (did you mean "
            "'ring_timeout'?); allowed: group, ring_timeout",
        ),
        (
            "        ring_timeout: 20\n",
            "        ring_timeout: 2\n",
            "37:23: steps.dial_supervisors.to.0.ring_timeout: must be greater than or equal to 5",
        ),
        (LEAD, "      - alice\n", "36:7: a target is listed twice in the chain"),
        (
            "    next: brief_supervisor\n    outcomes:\n      exhausted",
            "    ring: together\n    next: brief_supervisor\n    outcomes:\n      exhausted",
            "39:11: steps.dial_supervisors.ring: must be 'sequential' or 'simultaneous'",
        ),
        (
            "    next: brief_supervisor\n    outcomes:\n      exhausted",
            "    ring: simultaneous\n    next: brief_supervisor\n    outcomes:\n      exhausted",
            "34:5: steps.dial_supervisors: ring: simultaneous already rings every target of "
            "`to` at once: list names only, or keep ring: sequential to mix groups with "
            "single targets",
        ),
    ],
    ids=[
        "unknown-target",
        "group-of-one",
        "unknown-key",
        "short-ring",
        "twice",
        "ring-value",
        "simultaneous-with-group",
    ],
)
def test_a_group_written_wrong_is_one_positioned_problem(
    old: str, new: str, expected: str
) -> None:
    assert old in RING_GROUP
    assert problems_of(RING_GROUP.replace(old, new, 1)) == [expected]


def test_a_uri_target_in_a_group_is_refused_where_it_is_written() -> None:
    text = RING_GROUP.replace(
        '  bob:\n    number: "+15105550101"', '  bob:\n    uri: "sip:bob@example.com"'
    )
    assert problems_of(text) == [
        "36:24: target 'bob' has a uri; a dial step needs a target with a number"
    ]
