"""Compiled machines: states named after steps, outcomes as events, built-in states."""

from __future__ import annotations

from pathlib import Path

import pytest
from statemachine import StateChart

from orchestrator import compile_flow, load_flow
from tests.conftest import ROOT


def machine(name: str) -> StateChart:  # type: ignore[type-arg]
    return compile_flow(load_flow(ROOT / "flows" / f"{name}.yaml"))()


def walk(sm: StateChart, *events: str) -> list[str]:  # type: ignore[type-arg]
    seen = []
    for event in events:
        sm.send(event)
        seen.append(next(iter(sm.configuration_values)))
    return seen


def test_compiles_every_shipped_flow(shipped_flow: Path) -> None:
    cls = compile_flow(load_flow(shipped_flow))
    assert issubclass(cls, StateChart)
    flow = load_flow(shipped_flow)
    state_ids = {s.id for s in cls.states}
    assert set(flow.steps) <= state_ids
    assert {"requested", "caller_hung_up", "aborted"} <= state_ids


def test_happy_path() -> None:
    sm = machine("warm_transfer")
    assert walk(sm, "start", "held", "answered", "accepted", "merged") == [
        "hold_caller",
        "dial_supervisor",
        "brief_supervisor",
        "merge_call",
        "agent_leaves",
    ]
    assert sm.is_terminated


@pytest.mark.parametrize("outcome", ["no_answer", "busy", "voicemail", "caller_id_rejected"])
def test_dial_failures_go_to_the_fallback(outcome: str) -> None:
    sm = machine("warm_transfer")
    assert walk(sm, "start", "held", outcome)[-1] == "return_to_agent"


@pytest.mark.parametrize(
    "after", [[], ["held"], ["held", "answered"], ["held", "answered", "accepted"]]
)
def test_caller_hangup_from_every_phase(after: list[str]) -> None:
    sm = machine("warm_transfer")
    assert walk(sm, "start", *after, "caller_hangup")[-1] == "caller_hung_up"


@pytest.mark.parametrize(
    "after", [["held"], ["held", "answered"], ["held", "answered", "accepted"]]
)
def test_max_hold_releases_the_caller(after: list[str]) -> None:
    sm = machine("warm_transfer")
    assert walk(sm, "start", *after, "max_hold")[-1] == "return_to_agent"


def test_abort_before_start() -> None:
    sm = machine("warm_transfer")
    assert walk(sm, "abort") == ["aborted"]


def test_supervisor_chain_loops_through_the_announcement() -> None:
    sm = machine("supervisor_chain")
    path = walk(sm, "start", "held", "answered", "declined", "done", "answered", "accepted")
    assert path == [
        "hold_caller",
        "dial_supervisors",
        "brief_supervisor",
        "still_trying",
        "dial_supervisors",
        "brief_supervisor",
        "merge_call",
    ]
    assert walk(sm, "merged") == ["agent_leaves"]


def test_cold_transfer() -> None:
    sm = machine("cold_transfer")
    assert walk(sm, "start", "transferred") == ["transfer_to_desk", "cold_transferred"]
    sm = machine("cold_transfer")
    assert walk(sm, "start", "failed") == ["transfer_to_desk", "return_to_agent"]


def test_unexpected_events_are_ignored() -> None:
    """An event the current step does not expect changes nothing (the engine logs it)."""
    sm = machine("warm_transfer")
    assert walk(sm, "start", "accepted") == ["hold_caller", "hold_caller"]


def test_library_structural_checks_stay_on() -> None:
    cls = compile_flow(load_flow(ROOT / "flows" / "warm_transfer.yaml"))
    assert cls.validate_disconnected_states
    assert cls.validate_trap_states
    assert cls.validate_final_reachability
    assert cls.catch_errors_as_events is False
