"""`orchestrator report` over the JSON logs of every shipped scenario test (flows/tests/).

Each scenario runs as `orchestrator test` runs it (simulated clock, sandbox); the engine's log
events it captured are written as the JSON lines a worker writes, all scenarios in one log,
and the report's counts must be the scenarios' own outcomes: per flow, the transfers, the
merged count, the outcomes by reason, the dials per target and result.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.flowtests import FlowTestResult, discover, load_flow_test, run_flow_test
from tests.conftest import ROOT

runner = CliRunner()
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def results() -> list[FlowTestResult]:
    paths = discover([ROOT / "flows" / "tests"])
    assert len(paths) >= 20, "the shipped scenario tests are found"
    return [run_flow_test(load_flow_test(path)) for path in paths]


def _json_line(event: dict[str, Any], run: int) -> str:
    """A captured event as `configure_logging(json=True)` writes it: with an ISO timestamp
    (each run an hour apart, its simulated seconds after that)."""
    at = START + timedelta(hours=run, seconds=event["at"])
    line = {k: v for k, v in event.items() if k != "at"}
    line["timestamp"] = at.isoformat().replace("+00:00", "Z")
    return json.dumps(line)


@pytest.fixture(scope="module")
def figures(results: list[FlowTestResult], tmp_path_factory: pytest.TempPathFactory) -> Any:
    log = tmp_path_factory.mktemp("scenarios") / "scenarios.jsonl"
    lines = [_json_line(event, run) for run, r in enumerate(results) for event in r.events]
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["report", str(log), "--json"])
    assert (result.exit_code, result.stderr) == (0, "")
    return json.loads(result.stdout)


def test_every_scenario_ran_and_passed(results: list[FlowTestResult]) -> None:
    failed = {r.name: r.failures for r in results if not r.passed or r.outcome is None}
    assert failed == {}


def test_every_line_is_read(figures: Any) -> None:
    """Every captured event is a JSON object: used or skipped, none unreadable."""
    assert figures["lines"]["unreadable"] == 0
    assert figures["unreadable_lines"] == []


def test_transfers_per_flow_are_the_scenarios(results: list[FlowTestResult], figures: Any) -> None:
    per_flow = Counter(r.flow_name for r in results)
    assert figures["transfers"] == len(results)
    assert {name: f["transfers"] for name, f in figures["flows"].items()} == dict(per_flow)
    assert {name: f["finished"] for name, f in figures["flows"].items()} == dict(per_flow)


def test_merged_and_outcomes_by_reason_are_the_scenarios_outcomes(
    results: list[FlowTestResult], figures: Any
) -> None:
    for flow, shown in figures["flows"].items():
        outcomes = [r.outcome for r in results if r.flow_name == flow and r.outcome]
        assert shown["merged"] == sum(1 for o in outcomes if o.kind == "merged"), flow
        expected: dict[str, dict[str, Any]] = {}
        for o in outcomes:
            entry = expected.setdefault(o.kind, {"count": 0, "reasons": Counter()})
            entry["count"] += 1
            if o.reason is not None:
                entry["reasons"][o.reason] += 1
        assert {
            kind: {"count": e["count"], "reasons": dict(e["reasons"])}
            for kind, e in expected.items()
        } == shown["outcomes"], flow
    everything = [r.outcome for r in results if r.outcome]
    assert figures["all"]["merged"] == sum(1 for o in everything if o.kind == "merged")
    assert figures["all"]["callers_lost_on_hold"] == sum(
        1 for o in everything if o.kind == "caller_hung_up" and o.hold_seconds > 0
    )


def test_dials_per_target_are_the_scenarios_attempts(
    results: list[FlowTestResult], figures: Any
) -> None:
    for flow, shown in figures["flows"].items():
        dialled: dict[str, Counter[str]] = {}
        for r in results:
            if r.flow_name == flow and r.outcome:
                for attempt in r.outcome.attempts:
                    dialled.setdefault(attempt.target, Counter())[attempt.result] += 1
        assert {t: row["results"] for t, row in shown["targets"].items()} == {
            t: dict(c) for t, c in dialled.items()
        }, flow
        depth = Counter(
            str(len(r.outcome.attempts)) for r in results if r.flow_name == flow and r.outcome
        )
        assert shown["chain_depth"]["distribution"] == dict(depth), flow


def test_the_html_page_of_the_scenarios_has_a_block_per_flow(figures: Any) -> None:
    """The same log as a page: one block per flow and all flows."""
    from orchestrator.report import render_html

    page = render_html(figures)
    for flow in figures["flows"]:
        assert f"<h2>flow {flow}</h2>" in page
    assert "<h2>all flows</h2>" in page
