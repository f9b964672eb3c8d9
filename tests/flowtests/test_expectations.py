"""Each expectation of a scenario test holds when it should, and fails with "expected X,
got Y" when it does not (against a busy on-call supervisor: returned/busy, SIP 486)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from orchestrator.flowtests import arun_flow_test, coverage, load_flow_test, run_flow_test
from tests.conftest import ROOT
from tests.flowtests.conftest import CHAIN, WARM, Write

BUSY = 'phones:\n  "+15105550100": {answer: busy}\n'
HOLD = "Please hold for a moment while I connect you with a supervisor."
SORRY = "I'm sorry, I couldn't reach a supervisor right now. I'm still here to help."


def test_what_a_busy_supervisor_run_records(write: Write) -> None:
    result = run_flow_test(load_flow_test(write(BUSY + "expect: {outcome: returned}\n")))
    assert result.passed
    assert result.failures == []
    assert result.outcome is not None
    assert (result.outcome.kind, result.outcome.reason) == ("returned", "busy")
    assert result.steps == ["hold_caller", "dial_supervisor", "return_to_agent"]
    assert result.said_to_caller == [HOLD, SORRY]
    assert result.said_to_supervisor == []
    assert result.name == "case"


@pytest.mark.parametrize(
    ("expect", "failure"),
    [
        (
            "{outcome: merged, reason: null}",
            "expected outcome merged/None, got returned/busy",
        ),
        ("{outcome: merged}", "expected outcome merged, got returned/busy"),
        ("{reason: no_answer}", "expected reason no_answer, got busy"),
        (
            "{dialled: [on_call_supervisor, on_call_supervisor]}",
            "expected dialled on_call_supervisor, on_call_supervisor, got on_call_supervisor",
        ),
        ("{dialled: []}", "expected dialled none, got on_call_supervisor"),
        ("{caller_id: [business]}", "expected caller_id business, got caller"),
        (
            "{steps: [return_to_agent, dial_supervisor]}",
            "expected steps return_to_agent, dial_supervisor in this order, got hold_caller, "
            "dial_supervisor, return_to_agent",
        ),
        (
            "{said_to_caller: [Goodbye]}",
            f'expected said_to_caller "Goodbye", got "{HOLD}" | "{SORRY}"',
        ),
        ("{said_to_supervisor: [Press 1]}", 'expected said_to_supervisor "Press 1", got nothing'),
        ("{sip_status: 480}", "expected sip_status 480, got 486"),
        ("{sip_status: null}", "expected sip_status None, got 486"),
    ],
)
def test_an_expectation_that_does_not_hold_fails(write: Write, expect: str, failure: str) -> None:
    result = run_flow_test(load_flow_test(write(f"{BUSY}expect: {expect}\n")))
    assert not result.passed
    assert result.failures == [failure]


def test_hold_seconds_at_most(write: Write) -> None:
    held = run_flow_test(load_flow_test(write(BUSY + "expect: {outcome: returned}\n")))
    assert held.outcome is not None
    assert held.outcome.hold_seconds > 0
    seconds = held.outcome.hold_seconds
    exceeded = run_flow_test(load_flow_test(write(BUSY + "expect: {hold_seconds_at_most: 0}\n")))
    assert exceeded.failures == [f"expected hold_seconds_at_most 0, got {seconds:g}"]
    enough = f"expect: {{hold_seconds_at_most: {seconds}}}\n"
    assert run_flow_test(load_flow_test(write(BUSY + enough))).passed


def test_expectations_that_hold_pass_together(write: Write) -> None:
    body = BUSY + (
        "expect:\n"
        "  outcome: returned\n"
        "  reason: busy\n"
        "  dialled: [on_call_supervisor]\n"
        "  caller_id: [caller]\n"
        "  steps: [hold_caller, return_to_agent]\n"  # others may come between
        "  said_to_caller: ['  couldn''t   REACH a supervisor']\n"  # spacing and case aside
        "  sip_status: 486\n"
    )
    result = run_flow_test(load_flow_test(write(body)))
    assert result.failures == []


def test_every_failed_expectation_is_listed(write: Write) -> None:
    body = BUSY + "expect: {outcome: merged, dialled: [], sip_status: 200}\n"
    result = run_flow_test(load_flow_test(write(body)))
    assert len(result.failures) == 3


def test_events_carry_simulated_time_and_masked_numbers(write: Write) -> None:
    result = run_flow_test(load_flow_test(write("expect: {outcome: merged}\n")))
    assert result.passed
    times = [event["at"] for event in result.events]
    assert times == sorted(times)
    assert times[-1] > 0
    transitions = [e for e in result.events if e["event"] == "transfer.transition"]
    assert [e["to_state"] for e in transitions][-1] == "agent_leaves"
    assert result.simulated_seconds >= times[-1]
    text = json.dumps(result.events, default=str)
    assert "+15105550100" not in text
    assert "+14155552671" not in text
    assert "+1510***0100" in text


async def test_runs_that_overlap_keep_their_own_events(write: Write) -> None:
    busy = load_flow_test(write(BUSY + "expect: {outcome: returned}\n", name="busy"))
    merged = load_flow_test(write("expect: {outcome: merged}\n", name="merged"))
    first, second = await asyncio.gather(arun_flow_test(busy), arun_flow_test(merged))
    assert first.passed
    assert second.passed
    ids = [{event.get("transfer_id") for event in r.events} - {None} for r in (first, second)]
    assert len(ids[0]) == 1
    assert len(ids[1]) == 1
    assert ids[0] != ids[1]
    assert first.steps[-1] == "return_to_agent"
    assert second.steps[-1] == "agent_leaves"


def test_coverage_names_the_steps_and_outcomes_no_test_reached(write: Write) -> None:
    test = load_flow_test(write(BUSY + "expect: {outcome: returned}\n"))
    steps, outcomes = coverage(test.flow, [run_flow_test(test)])
    assert steps == ["brief_supervisor", "merge_call", "agent_leaves"]
    assert "dial_supervisor.busy" not in outcomes
    assert "hold_caller.held" not in outcomes
    assert "dial_supervisor.no_answer" in outcomes
    assert "brief_supervisor.accepted" in outcomes
    assert "caller_hangup" in outcomes
    assert "max_hold" in outcomes
    chain = load_flow_test(write("expect: {outcome: merged}\n", flow=CHAIN))
    assert coverage(test.flow, [run_flow_test(chain)]) == coverage(test.flow, [])
    nothing_steps, nothing_outcomes = coverage(test.flow, [])
    assert nothing_steps == list(test.flow.steps)
    assert set(outcomes) < set(nothing_outcomes)
    assert {"dial_supervisor.busy", "hold_caller.held"} <= set(nothing_outcomes)


@pytest.mark.parametrize(("flavor", "moved"), [("cloud", True), ("oss", False)])
def test_flavor_picks_the_livekit_run_against(write: Write, flavor: str, moved: bool) -> None:
    body = f"flavor: {flavor}\nexpect: {{outcome: merged}}\n"
    result = run_flow_test(load_flow_test(write(body)))
    assert result.passed
    moves = [
        e
        for e in result.events
        if e["event"] == "livekit.request" and e["rpc"] == "RoomService.MoveParticipant"
    ]
    assert any(move["ok"] for move in moves) is moved  # oss has no MoveParticipant: in_room


def test_a_step_named_with_digits_is_still_seen(write: Write, tmp_path: Path) -> None:
    flow = tmp_path / "digits.yaml"
    flow.write_text(WARM.read_text().replace("dial_supervisor", "dial_15105550100"))
    path = write("expect: {steps: [dial_15105550100, merge_call]}\n", flow=flow)
    result = run_flow_test(load_flow_test(path))
    assert result.failures == []
    assert "dial_15105550100" in result.steps
    assert "dial_15105550100" not in json.dumps(result.events)  # masked in the log events


def test_sip_status_is_the_outcomes_not_the_last_attempt_listed(
    write: Write, tmp_path: Path
) -> None:
    # A group without the team lead: bob is busy at once, alice rings out last. The dial
    # (and the outcome) ended on alice's no_answer, which has no SIP status; bob, listed
    # last, has 486.
    flow = (ROOT / "flows" / "ring_group.yaml").read_text()
    alone = flow.replace("      - team_lead                 # then the team lead, alone\n", "")
    assert alone != flow
    (tmp_path / "group.yaml").write_text(alone)
    phones = 'phones:\n  "+15105550100": {answer: no_answer}\n  "+15105550101": {answer: busy}\n'
    body = phones + "expect: {outcome: returned, reason: no_answer, sip_status: 486}\n"
    result = run_flow_test(load_flow_test(write(body, flow=tmp_path / "group.yaml")))
    assert result.outcome is not None
    assert [a.sip_status for a in result.outcome.attempts] == [None, 486]
    assert result.failures == ["expected sip_status 486, got None"]
