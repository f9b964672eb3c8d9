"""Scenario tests of a flow that decides by the clock: `now:` is required (a test must not
depend on when it runs), is checked, and chooses which side the flow takes."""

from __future__ import annotations

from pathlib import Path

from orchestrator.errors import FlowError
from orchestrator.flowtests import load_flow_test, run_flow_test
from tests.conftest import ROOT
from tests.flowtests.conftest import Write

AFTER_HOURS = ROOT / "flows" / "after_hours.yaml"


def problems(path: Path) -> list[str]:
    try:
        load_flow_test(path)
    except FlowError as error:
        return [f"{p.line}:{p.column}: {p.message}" for p in error.problems]
    return []


def test_a_clocked_flow_needs_now(write: Write) -> None:
    path = write("expect: {outcome: merged}\n", flow=AFTER_HOURS)
    assert problems(path) == [
        "1:1: now: flow 'after_hours' decides by the clock (step check_hours): set now: to "
        "the moment the test runs at, like now: 2026-12-05T19:02:00+00:00"
    ]


def test_now_needs_its_utc_offset(write: Write) -> None:
    path = write("now: 2026-12-05T19:02:00\nexpect: {outcome: merged}\n", flow=AFTER_HOURS)
    assert problems(path) == [
        "2:6: now: now is an ISO-8601 date and time with its UTC offset, like "
        "2026-12-05T19:02:00+00:00 or 2026-12-05T19:02:00Z"
    ]


def test_now_chooses_the_side(write: Write) -> None:
    closed = write(
        "now: 2026-12-05T19:02:00Z\nexpect: {outcome: hung_up, reason: callback}\n",
        name="closed",
        flow=AFTER_HOURS,
    )
    opened = write(
        "now: 2026-12-05T10:02:00Z\nexpect: {outcome: hung_up, reason: callback}\n",
        name="opened",
        flow=AFTER_HOURS,
    )
    assert run_flow_test(load_flow_test(closed)).passed
    result = run_flow_test(load_flow_test(opened))  # Saturday morning: open, merged
    assert result.failures == ["expected outcome hung_up/callback, got merged/None"]
    assert result.steps[:2] == ["check_hours", "hold_caller"]
