"""The picture routes as the engine does: for every shipped flow and every flow in the docs,
the drawn step-to-step edges are the engine's transition table, and a dial step's chain is
the order `engine/dial.dial` works in (checked against a simulated transfer too)."""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from orchestrator import load_flow
from orchestrator.clock import ManualClock
from orchestrator.flow.compiler import compile_flow, transition_table
from orchestrator.flow.diagram import Diagram, build_diagram, diagram_edges
from orchestrator.flow.model import DialStep, Flow
from orchestrator.flow.outcomes import FAILURES
from orchestrator.sandbox import Scenario
from orchestrator.simulate import simulate

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```ya?ml\n(.*?)^```", re.M | re.S)
FLOW_KEY = re.compile(r"^steps:", re.M)
SUMMED = {"start", "abort", "caller_hangup", "max_hold"}
# What the shipped flows do not use: a business caller ID, caller-ID rejection ending an
# attempt, a dial step with a visit budget, a cold transfer and a hang-up, no hold limit step.
OTHER = """
name: desk_or_line
fallback: bye
caller_id: {mode: business, business_number: "+18005550100"}
targets:
  desk: {number: "+15105550100"}
  line: {number: "+15105550101", ring_timeout: 45}
  front: {uri: "sip:front@example.com"}
steps:
  wait: {type: hold, next: ring, outcomes: {failed: bye}}
  ring:
    type: dial
    to: [desk, line]
    caller_id: {mode: preserve, on_rejection: fail, rejected_by: [403, 603]}
    max_visits: 2
    next: ask
    outcomes: {busy: refer, exhausted: bye}
  ask: {type: brief, say: "Take it?", accept_by: [dtmf, voice], next: join}
  join: {type: merge, next: leave}
  leave: {type: exit}
  refer: {type: cold_transfer, to: front, say: "Moving you", outcomes: {failed: bye}}
  bye: {type: hangup, say: "Goodbye"}
"""


def _examples() -> list[tuple[str, str]]:
    """Every flow shipped in flows/ and every complete flow written out in the docs."""
    found = [
        (path.name, path.read_text())
        for path in sorted((ROOT / "flows").glob("*.yaml"))
        if FLOW_KEY.search(path.read_text())
    ]
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for index, block in enumerate(FENCE.findall(page.read_text())):
            if FLOW_KEY.search(block) and re.search(r"^name:", block, re.M):
                found.append((f"{page.name}#{index}", block))
    return [*found, ("desk_or_line", OTHER)]


EXAMPLES = _examples()


@pytest.fixture(params=EXAMPLES, ids=[name for name, _ in EXAMPLES])
def flow(request: pytest.FixtureRequest) -> Flow:
    return load_flow(request.param[1])


def engine_edges(flow: Flow) -> set[tuple[str, str, str]]:
    table = transition_table(compile_flow(flow))
    return {
        (state, event, target) for state, row in table.items() for event, target in row.items()
    }


def test_the_examples_include_every_shipped_flow_and_the_docs() -> None:
    names = {name for name, _ in EXAMPLES}
    assert {"warm_transfer.yaml", "supervisor_chain.yaml", "cold_transfer.yaml"} <= names
    assert any(name.startswith("README.md#") for name in names)


def test_internal_picture_draws_exactly_the_engine_table(flow: Flow) -> None:
    assert diagram_edges(flow, internal=True) == engine_edges(flow)


def test_designer_picture_draws_the_engine_table_between_steps(flow: Flow) -> None:
    """Without --internal: every transition between shown states, except the four events
    that leave nearly every state (summed up by the markers, tested below)."""
    shown = {node.id for node in build_diagram(flow).nodes}
    expected = {
        (state, event, target)
        for state, event, target in engine_edges(flow)
        if state in shown and target in shown and event not in SUMMED
    }
    assert diagram_edges(flow) == expected
    assert not shown & {"requested", "aborted"}


def test_markers_stand_for_the_hang_up_and_hold_limit_edges(flow: Flow) -> None:
    diagram = build_diagram(flow)
    table = transition_table(compile_flow(flow))
    marked = {(e.source, e.target, e.events) for e in diagram.edges if e.step is None}
    assert ("marker:start", flow.first_step, ()) in marked
    assert ("marker:caller_hangs_up", "caller_hung_up", ("caller_hangup",)) in marked
    limits = {row["max_hold"] for row in table.values() if "max_hold" in row}
    assert {(t,) for s, t, e in marked if s == "marker:hold_limit"} == {(t,) for t in limits}


def test_every_step_is_drawn_with_its_name_and_type(flow: Flow) -> None:
    nodes = {node.id: node for node in build_diagram(flow).nodes}
    for name, step in flow.steps.items():
        assert (nodes[name].name, nodes[name].type) == (name, step.type)


def chain(diagram: Diagram, step: str) -> list[str]:
    """The target names of a dial step, read off the picture's moves from the step on."""
    nodes = {node.id: node for node in diagram.nodes}
    moves = {e.source: e.target for e in diagram.edges if e.step is None and e.source != e.target}
    order, here = [], moves[step]
    while nodes[here].chain == step:
        order.append(nodes[here].name)
        if here not in moves:
            break
        here = moves[here]
    return order


def test_dial_chain_mirrors_the_engines_order(flow: Flow) -> None:
    diagram = build_diagram(flow)
    for name, step in flow.steps.items():
        if not isinstance(step, DialStep):
            continue
        # A ring group is one place of the chain, drawn as its targets rung together.
        assert chain(diagram, name) == [" + ".join(place.targets) for place in step.chain()]
        ids = [f"{name}/{i}" for i in range(1, len(step.chain()) + 1)]
        edges = {(e.source, e.target): e for e in diagram.edges}
        for here, there in pairwise(ids):  # the chain goes on: the step does not end
            goes_on = set(edges[here, there].events)
            assert {"busy", "no_answer", "declined", "voicemail", "unavailable"} <= goes_on
            assert "failed" not in goes_on
            assert not any(
                e.source == here and e.step == name and set(e.events) & goes_on
                for e in diagram.edges
            )
        leaving = {ev for e in diagram.edges if e.source == ids[-1] and e.step for ev in e.events}
        assert leaving == {"answered", *FAILURES["dial"]} - {"failed"}
        from_step = {ev for e in diagram.edges if e.source == name and e.step for ev in e.events}
        assert {"failed", "exhausted"} <= from_step


async def test_a_chain_where_everyone_is_busy_runs_as_drawn() -> None:
    """The engine's run follows the picture: primary, backup, team lead in turn; the caller
    hears the update once, after the last; the next visit finds the chain used up."""
    flow = load_flow(ROOT / "flows" / "supervisor_chain.yaml")
    scenario = Scenario.model_validate({"phones": {"default": {"answer": "busy"}}})
    with capture_logs() as logs:
        result = await simulate(flow, scenario, clock=ManualClock())
    drawn = diagram_edges(flow, internal=True)
    moves = [
        (e["from_state"], e["trigger"], e["to_state"])
        for e in logs
        if e["event"] == "transfer.transition"
    ]
    assert moves
    assert all(move in drawn for move in moves)
    assert moves[1:] == [
        ("hold_caller", "held", "dial_supervisors"),
        ("dial_supervisors", "busy", "still_trying"),
        ("still_trying", "done", "dial_supervisors"),
        ("dial_supervisors", "exhausted", "return_to_agent"),
    ]
    assert [a.target for a in result.outcome.attempts] == chain(
        build_diagram(flow), "dial_supervisors"
    )
    said = [c.text for c in result.media.calls if c.action == "say_to_caller"]
    assert said.count("Thanks for waiting, I'm still trying to reach someone.") == 1


def test_a_target_rings_its_own_time_not_the_steps() -> None:
    flow = load_flow(ROOT / "flows" / "supervisor_chain.yaml")
    nodes = {node.id: node for node in build_diagram(flow).nodes}
    assert [nodes[f"dial_supervisors/{i}"].details for i in (1, 2, 3)] == [
        ("1. primary", "rings 20 s"),
        ("2. backup", "rings 20 s"),
        ("3. team_lead", "rings 30 s"),
    ]
