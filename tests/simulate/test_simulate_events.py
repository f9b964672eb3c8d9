"""What `simulate()` logs for the designer's timeline, rendered as the studio renders it:
structlog event dicts captured during the run, stamped with simulated time (`at`)."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import structlog
from structlog.testing import LogCapture

from orchestrator.clock import ManualClock
from orchestrator.sandbox import Scenario
from orchestrator.simulate import simulate
from orchestrator.timeline import render
from tests.engine.conftest import CANARIES, flow


async def timeline(flow_name: str, scenario: dict[str, Any]) -> tuple[list[str], list[Any]]:
    clock = ManualClock()

    def stamp(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event["at"] = clock.now()
        return event

    capture = LogCapture()
    structlog.configure(processors=[stamp, capture])
    try:
        await simulate(flow(flow_name), Scenario.model_validate(scenario), clock=clock)
    finally:
        structlog.reset_defaults()
    return render(capture.entries), capture.entries


CHAIN_FAILS = {
    "caller": {"number": "+14155552671"},
    "phones": {
        "+15105550100": {"answer": "busy"},
        "+15105550101": {"answer": "no_answer"},
        "+15105550102": {"answer": "decline"},
    },
}


async def test_a_failing_chain_reads_in_the_flows_language() -> None:
    lines, events = await timeline("supervisor_chain", CHAIN_FAILS)
    assert [line for line in lines if "transfer started" not in line] == [
        "    0.00s  step hold_caller",
        '    0.00s  said to the caller: "Let me find someone who can help. Please hold."',
        "    0.00s  caller on hold (music: builtin)",
        "    0.00s  step dial_supervisors  (hold_caller: held)",
        "    0.00s  dialling primary, showing the caller's number +1415***2671, ringing up to "
        "20 s",
        "    0.50s  primary: busy (SIP 486)",
        "    0.50s  dialling backup, showing the caller's number +1415***2671, ringing up to 20 s",
        "   20.50s  backup: no answer after 20 s",
        "   20.50s  dialling team_lead, showing the caller's number +1415***2671, ringing up to "
        "30 s",
        "   21.00s  team_lead: declined (SIP 603)",
        "   21.00s  step still_trying  (dial_supervisors: declined)",
        '   21.00s  said to the caller: "Thanks for waiting, I\'m still trying to reach someone."',
        "   21.00s  step dial_supervisors  (still_trying: done)",
        "   21.00s  step return_to_agent  (dial_supervisors: exhausted)",
        "   21.00s  hold music stops",
        "   21.00s  said to the caller: \"I'm sorry, no one is free to take your call right now. "
        'Can I help you another way?"',
        "   21.00s  outcome: returned (exhausted), caller on hold 21 s, 3 attempts",
    ]
    # The simulation's events carry the transfer's id and flow, like the engine's.
    ours = [e for e in events if e["event"].startswith("simulate.")]
    finished = next(e for e in events if e["event"] == "transfer.finished")
    assert {e["transfer_id"] for e in ours} == {finished["transfer_id"]}
    assert {e["flow"] for e in ours} == {"supervisor_chain"}
    # Each attempt's logged result (the engine's `dial.result`) agrees with the outcome's.
    dialled = [e for e in events if e["event"] == "dial.result"]
    assert {e["transfer_id"] for e in dialled} == {finished["transfer_id"]}
    results = [(e["target"], e["result"]) for e in dialled]
    assert results == [(d["target"], d["result"]) for d in finished["dials"]]


async def test_the_brief_is_said_to_the_supervisor_who_answered_with_numbers_masked() -> None:
    lines, events = await timeline("warm_transfer", {"caller": {"number": "+14155552671"}})
    said = [e for e in events if e["event"] == "simulate.said"]
    assert [(e["to"], e.get("target")) for e in said] == [
        ("caller", None),
        ("supervisor", "on_call_supervisor"),
    ]
    assert said[1]["text"].startswith("You have a transferred call from +1415***2671.")
    assert not any(canary in repr(events) for canary in CANARIES)
    steps = [line.split("step ")[1].split()[0] for line in lines if "  step " in line]
    assert steps == [
        "hold_caller",
        "dial_supervisor",
        "brief_supervisor",
        "merge_call",
        "agent_leaves",
    ]


async def test_voicemail_and_caller_id_fallback_are_shown_per_attempt() -> None:
    scenario = {
        "caller": {"number": "+14155552671"},
        "trunk": {
            "id": "ST_sandbox",
            "numbers": ["+18005550100"],
            "caller_id_policy": "owned_only",
        },
        "phones": {"+15105550100": {"answer": "voicemail"}},
    }
    lines, _ = await timeline("supervisor_chain", scenario)
    shown = [line[11:] for line in lines]
    start = shown.index(
        "dialling primary, showing the caller's number +1415***2671, ringing up to 20 s"
    )
    assert shown[start + 1 : start + 6] == [
        "primary: the carrier refused the caller ID shown (SIP 403)",
        "dialling again, showing the business number instead",
        "dialling primary, showing the business number +1800***0100, ringing up to 20 s",
        "primary answered after 2 s",
        "primary: a voicemail answered; hung up",
    ]
