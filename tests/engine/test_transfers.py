"""Warm and cold transfers end to end, every path of the fault catalogue the engine owns."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator import load_flow
from orchestrator.livekit.probe import PROBE
from orchestrator.simulate import Simulation
from tests.engine.conftest import CALLER, ROOT, run

WARM = "warm_transfer"
OWNED_ONLY = {"trunk": {"caller_id_policy": "owned_only"}}


async def test_happy_path_preserves_the_callers_number() -> None:
    result, logs = await run(WARM, {"phones": {"default": {"answer": 2.0, "decide_after": 1.0}}})
    outcome = result.outcome
    assert (outcome.kind, outcome.reason, outcome.final_step) == ("merged", None, "agent_leaves")
    assert outcome.hold_seconds == 3.0
    assert outcome.time_to_supervisor_seconds == 3.0
    (dial,) = result.dials()
    assert dial["sip_number"] == CALLER
    assert dial["sip_call_to"] == "+15105550100"
    assert dial["wait_until_answered"] is True
    assert CALLER[1:] not in dial["participant_identity"]
    assert [c.action for c in result.media.calls] == [
        "say_to_caller",
        "start_hold",
        "brief",
        "stop_hold",
        "agent_leave",
    ]
    transitions = [
        (e["from_state"], e["to_state"], e["trigger"])
        for e in logs
        if e["event"] == "transfer.transition"
    ]
    assert transitions == [
        ("requested", "hold_caller", "start"),
        ("hold_caller", "dial_supervisor", "held"),
        ("dial_supervisor", "brief_supervisor", "answered"),
        ("brief_supervisor", "merge_call", "accepted"),
        ("merge_call", "agent_leaves", "merged"),
    ]
    requests = [e for e in logs if e["event"] == "livekit.request"]
    assert all({"rpc", "duration_ms", "ok", "transfer_id", "flow"} <= set(e) for e in requests)


@pytest.mark.parametrize(
    ("phone", "reason", "sip_status", "results"),
    [
        ({"answer": "no_answer"}, "no_answer", None, ["no_answer"]),
        ({"answer": "busy"}, "busy", 486, ["busy"]),
        ({"answer": "unavailable"}, "unavailable", 480, ["unavailable"]),
        # 603 is a person declining, even while the caller's own number is shown: no redial.
        ({"answer": "decline"}, "declined", 603, ["declined"]),
        ({"answer": "voicemail"}, "voicemail", None, ["voicemail"]),
        ({"answer": 1.0, "on_brief": "decline"}, "declined", None, ["answered"]),
        ({"answer": 1.0, "on_brief": "silent"}, "timeout", None, ["answered"]),
        ({"answer": 1.0, "on_brief": "hangup"}, "supervisor_left", None, ["answered"]),
    ],
    ids=[
        "no-answer",
        "busy",
        "unavailable",
        "decline",
        "voicemail",
        "brief-decline",
        "brief-timeout",
        "supervisor-hangs-up",
    ],
)
async def test_failures_return_the_caller_to_the_agent(
    phone: dict[str, object], reason: str, sip_status: int | None, results: list[str]
) -> None:
    result, _ = await run(WARM, {"phones": {"default": phone}})
    outcome = result.outcome
    assert (outcome.kind, outcome.reason, outcome.final_step) == (
        "returned",
        reason,
        "return_to_agent",
    )
    assert outcome.sip_status == sip_status
    assert [a.result for a in outcome.attempts] == results
    assert result.media.calls[-1].action == "say_to_caller"  # the flow's sentence, word for word
    assert result.media.calls[-1].text.startswith("I'm sorry")


async def test_caller_id_rejected_then_business_number() -> None:
    result, _ = await run(WARM, OWNED_ONLY)
    assert result.outcome.kind == "merged"
    first, second = result.dials()
    assert (first["sip_number"], second["sip_number"]) == (CALLER, "+18005550100")
    assert [(a.caller_id, a.result) for a in result.outcome.attempts] == [
        ("caller", "caller_id_rejected"),
        ("business", "answered"),
    ]


async def test_caller_id_rejection_without_fallback() -> None:
    text = (
        (ROOT / "flows" / "warm_transfer.yaml")
        .read_text()
        .replace("on_rejection: business_number", "on_rejection: fail")
    )
    result, _ = await run(load_flow(text), OWNED_ONLY)
    assert (result.outcome.kind, result.outcome.reason) == ("returned", "caller_id_rejected")
    assert len(result.dials()) == 1


async def test_withheld_caller_number_is_never_presented() -> None:
    result, logs = await run(WARM, {"caller": {"number": "anonymous"}})
    assert result.outcome.kind == "merged"
    assert result.dials()[0]["sip_number"] == "+18005550100"
    assert any(e["event"] == "dial.caller_id_withheld" for e in logs)


async def test_chain_of_supervisors() -> None:
    scenario = {
        "phones": {
            "+15105550100": {"answer": "busy"},
            "+15105550101": {"answer": 2.0, "on_brief": "decline"},
            "+15105550102": {"answer": 3.0, "on_brief": "accept"},
        }
    }
    result, _ = await run("supervisor_chain", scenario)
    assert result.outcome.kind == "merged"
    assert [(a.target, a.result) for a in result.outcome.attempts] == [
        ("primary", "busy"),
        ("backup", "answered"),
        ("team_lead", "answered"),
    ]
    assert [d["sip_call_to"] for d in result.dials()] == [
        "+15105550100",
        "+15105550101",
        "+15105550102",
    ]
    assert result.dials()[2]["dtmf"] == "ww42#"
    assert result.dials()[2]["headers"]["Diversion"] == "<tel:+18005550100>;reason=unconditional"
    updates = [c.text for c in result.media.calls if c.action == "say_to_caller"]
    assert "Thanks for waiting, I'm still trying to reach someone." in updates


async def test_chain_used_up() -> None:
    result, _ = await run(
        "supervisor_chain", {"phones": {"default": {"answer": 1.0, "on_brief": "decline"}}}
    )
    assert (result.outcome.kind, result.outcome.reason) == ("returned", "exhausted")
    assert len(result.dials()) == 3


@pytest.mark.parametrize(
    ("scenario", "final_step_before"),
    [
        (
            {"caller": {"hangup_after": 1.0}, "phones": {"default": {"answer": 5.0}}},
            "dial_supervisor",
        ),
        (
            {
                "caller": {"hangup_after": 3.0},
                "phones": {"default": {"answer": 1.0, "decide_after": 5.0}},
            },
            "brief_supervisor",
        ),
        (
            {
                "caller": {"hangup_after": 2.5},
                "phones": {"default": {"answer": 1.0, "decide_after": 1.0}},
                "faults": [{"rpc": "RoomService.MoveParticipant", "delay": 1.0}],
            },
            "merge_call",
        ),
    ],
    ids=["while-ringing", "during-brief", "during-merge"],
)
async def test_caller_hangs_up(scenario: dict[str, object], final_step_before: str) -> None:
    result, logs = await run(WARM, scenario)
    assert (result.outcome.kind, result.outcome.final_step) == ("caller_hung_up", "caller_hung_up")
    last = [e for e in logs if e["event"] == "transfer.transition"][-1]
    assert (last["from_state"], last["trigger"]) == (final_step_before, "caller_hangup")
    notices = [c.text for c in result.media.calls if c.action == "brief" and "hung up" in c.text]
    assert len(notices) == (1 if final_step_before == "brief_supervisor" else 0)


async def test_max_hold_releases_the_caller() -> None:
    text = (
        (ROOT / "flows" / "warm_transfer.yaml")
        .read_text()
        .replace("max_hold: 120", "max_hold: 10")
    )
    result, _ = await run(load_flow(text), {"phones": {"default": {"answer": 20.0}}})
    assert (result.outcome.kind, result.outcome.reason) == ("returned", "max_hold")
    assert result.outcome.hold_seconds == 10.0


def moves(result: Simulation) -> list[dict[str, Any]]:
    """The transfer's MoveParticipant requests, not the preflight probe's."""
    return [
        r
        for r in result.requests
        if r["rpc"] == "RoomService.MoveParticipant" and r["request"]["identity"] != PROBE
    ]


@pytest.mark.parametrize(
    ("times", "kind", "reason"), [(1, "merged", None), (5, "returned", "move_failed")]
)
async def test_move_participant_failing(times: int, kind: str, reason: str | None) -> None:
    faults = [{"rpc": "RoomService.MoveParticipant", "code": "unavailable", "times": times}]
    result, _ = await run(WARM, {"faults": faults})
    assert (result.outcome.kind, result.outcome.reason) == (kind, reason)
    assert len(moves(result)) == 2  # the first try and at most one retry


async def test_lost_move_answer_is_reconciled_not_retried() -> None:
    faults = [
        {"rpc": "RoomService.MoveParticipant", "code": "deadline_exceeded", "lose_response": True}
    ]
    result, _ = await run(WARM, {"faults": faults})
    assert result.outcome.kind == "merged"
    assert len(moves(result)) == 1


async def test_lost_dial_answer_never_dials_twice() -> None:
    faults = [{"rpc": "SIP.CreateSIPParticipant", "code": "unavailable", "lose_response": True}]
    result, _ = await run(WARM, {"faults": faults})
    assert result.outcome.kind == "merged"
    assert len(result.dials()) == 1


@pytest.mark.parametrize(("flavor", "reason"), [("cloud", None), ("oss", "unconfirmed")])
async def test_cold_transfer(flavor: str, reason: str | None) -> None:
    result, _ = await run("cold_transfer", flavor=flavor)  # type: ignore[arg-type]
    assert (result.outcome.kind, result.outcome.reason) == ("cold_transferred", reason)
    (refer,) = [r["request"] for r in result.requests if r["rpc"] == "SIP.TransferSIPParticipant"]
    assert refer["transfer_to"] == "tel:+15105550199"


async def test_cold_transfer_refused() -> None:
    result, _ = await run("cold_transfer", {"phones": {"+15105550199": {"answer": "busy"}}})
    assert (result.outcome.kind, result.outcome.reason, result.outcome.sip_status) == (
        "returned",
        "failed",
        486,
    )
