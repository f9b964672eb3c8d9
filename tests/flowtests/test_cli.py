"""`orchestrator test`: the shipped flows' tests, the report, exit codes, invalid input at
PATH:LINE:COL, JUnit XML."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.flowtests import discover
from tests.conftest import FLOWS, ROOT
from tests.flowtests.conftest import SHIPPED_TESTS, WARM, Write

runner = CliRunner()


def run(*args: str) -> tuple[int, list[str]]:
    result = runner.invoke(app, ["test", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout.splitlines()


def test_shipped_flows_pass_and_every_step_is_reached() -> None:
    code, lines = run(str(ROOT / "flows"))
    assert code == 0, lines
    scenarios = discover([SHIPPED_TESTS])
    assert [line for line in lines if line.startswith("PASS ")] == [
        f"PASS {path.stem}" for path in scenarios
    ]
    reached = [line for line in lines if line.endswith(".yaml") or ".yaml: " in line]
    assert sorted(line.split(":")[0] for line in reached) == sorted(map(str, FLOWS))
    assert all(": every step reached" in line for line in reached), reached
    assert "steps not reached" not in "\n".join(lines)
    assert lines[-1].startswith(f"{len(scenarios)} passed, 0 failed in ")


def test_default_path_is_flows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, lines = run()
    assert code == 0
    assert "PASS warm_accepted" in lines


def test_a_failed_expectation_exits_1_with_its_line(write: Write) -> None:
    path = write("expect: {outcome: returned, reason: no_answer}\n", name="nobody_answers")
    code, lines = run(str(path))
    assert code == 1
    assert lines[0] == "FAIL nobody_answers: expected outcome returned/no_answer, got merged/None"
    assert lines[1].startswith(f"{WARM}: steps not reached: return_to_agent; outcomes not")
    assert lines[2].startswith("0 passed, 1 failed in ")


def test_name_from_the_file_overrides_the_stem(write: Write) -> None:
    code, lines = run(str(write("name: busy_then_sales\nexpect: {outcome: merged}\n")))
    assert (code, lines[0]) == (0, "PASS busy_then_sales")


def test_the_log_configuration_is_left_as_it_was(write: Write) -> None:
    before = structlog.get_config()
    assert run(str(write("expect: {outcome: merged}\n")))[0] == 0
    assert structlog.get_config() == before


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            "expect:\n  outcome: merged\n  reasn: busy\n",
            "4:3: unknown key 'reasn' in expect (did you mean 'reason'?); allowed: caller_id, "
            "dialled, hold_seconds_at_most, outcome, reason, said_to_caller, "
            "said_to_supervisor, sip_status, steps, supervisor_asked",
        ),
        (
            "phone:\n  default: {answer: busy}\nexpect: {outcome: merged}\n",
            "2:1: unknown key 'phone' at the top level (did you mean 'phones'?); allowed: caller, "
            "description, expect, faults, flavor, flow, name, now, phones, speed, trunk",
        ),
        (
            'phones:\n  "+15105550110": {answer: busy}\nexpect: {outcome: returned}\n',
            "3:3: phones: no target of flow 'warm_transfer' has the number +15105550110 (did "
            "you mean '+15105550100'?); its targets' numbers: +15105550100 "
            "(on_call_supervisor)",
        ),
        (
            "expect: {dialled: [on_call_supervsor]}\n",
            "2:20: expect.dialled: flow 'warm_transfer' has no target 'on_call_supervsor' "
            "(did you mean 'on_call_supervisor'?); its targets: on_call_supervisor",
        ),
        (
            "expect: {steps: [hold_caller, dial_supervisr]}\n",
            "2:31: expect.steps: flow 'warm_transfer' has no step 'dial_supervisr' (did you "
            "mean 'dial_supervisor'?); its steps: hold_caller, dial_supervisor, "
            "brief_supervisor, merge_call, agent_leaves, return_to_agent",
        ),
        (
            "expect: {outcome: transferred}\n",
            "2:19: expect.outcome: must be 'merged', 'returned', 'caller_hung_up', "
            "'cold_transferred', 'hung_up' or 'failed'",
        ),
        (
            "expect: {dialled: [on_call_supervisor], caller_id: [caller, business]}\n",
            "2:52: expect.caller_id: one entry per attempt, like dialled (1 there, 2 here)",
        ),
        ("expect: {}\n", "2:9: expect: write at least one expectation, like `outcome: merged`"),
        ("phones: {}\n", "1:1: missing required key 'expect'"),
    ],
)
def test_invalid_scenario_exits_2_at_path_line_col(write: Write, body: str, problem: str) -> None:
    path = write(body)
    code, lines = run(str(path))
    assert code == 2
    assert lines[0] == f"{path}:{problem}"
    assert lines[-1].startswith("0 passed, 0 failed, 1 invalid in ")


def test_missing_flow_file(write: Write, tmp_path: Path) -> None:
    path = write("expect: {outcome: merged}\n", flow=Path("nope.yaml"))
    code, lines = run(str(path))
    assert code == 2
    assert lines[0] == (
        f"{path}:1:7: flow: there is no flow file {tmp_path / 'nope.yaml'} (relative to this file)"
    )


def test_invalid_flow_is_reported_in_the_flow_file_once(write: Write, tmp_path: Path) -> None:
    flow = tmp_path / "broken.yaml"
    flow.write_text("version: 1\nname: broken\nsteps:\n  done: {type: exit, nxt: x}\n")
    write("expect: {outcome: merged}\n", name="one", flow=Path("broken.yaml"))
    write("expect: {outcome: returned}\n", name="two", flow=Path("broken.yaml"))
    code, lines = run(str(tmp_path))
    assert code == 2
    assert lines == [
        f"{flow}:4:22: unknown key 'nxt' in steps.done; allowed: description, type",
        lines[-1],
    ]
    assert lines[-1].startswith("0 passed, 0 failed, 2 invalid in ")


def test_a_flow_named_directly_is_not_a_scenario_test() -> None:
    code, lines = run(str(WARM))
    assert code == 2
    assert lines[0] == (
        f"{WARM}:1:1: not a scenario test: it has no top-level `flow:` key naming the flow it "
        "tests (flows are checked by `orchestrator validate`)"
    )


def test_a_path_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    code, lines = run(str(missing))
    assert code == 2
    assert (
        lines[0] == f"{missing}:1:1: no such file or folder; name scenario test files or folders"
    )


def test_a_folder_without_scenario_tests(tmp_path: Path) -> None:
    shutil.copy(WARM, tmp_path)
    result = runner.invoke(app, ["test", str(tmp_path)])
    assert result.exit_code == 2
    assert "no scenario tests in" in result.stderr
    assert "top-level `flow:` key" in result.stderr


def test_invalid_and_failing_tests_are_all_reported_invalid_wins(write: Write) -> None:
    write("expect: {outcome: returned}\n", name="a_fails")
    write("expect: {outcom: merged}\n", name="b_invalid")
    write("expect: {outcome: merged}\n", name="c_passes")
    code, lines = run(str(write("expect: {outcome: merged}\n", name="c_passes").parent))
    assert code == 2
    assert lines[0].endswith(
        "unknown key 'outcom' in expect (did you mean 'outcome'?); "
        "allowed: caller_id, dialled, hold_seconds_at_most, outcome, "
        "reason, said_to_caller, said_to_supervisor, sip_status, steps, supervisor_asked"
    )
    assert lines[1].startswith("FAIL a_fails: expected outcome returned, got merged/None")
    assert lines[2] == "PASS c_passes"


def test_junit_xml(write: Write, tmp_path: Path) -> None:
    write("expect: {outcome: returned}\n", name="fails")
    write("expect: {outcome: merged}\n", name="passes")
    write("expect: {outcom: merged}\n", name="invalid")
    report = tmp_path / "out" / "junit.xml"
    report.parent.mkdir()
    code, _ = run(str(tmp_path), "--junit", str(report))
    assert code == 2
    root = ET.fromstring(report.read_bytes())
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "1")
    cases = {case.get("name"): case for case in root.iter("testcase")}
    assert set(cases) == {"fails", "passes", "invalid"}
    failure = cases["fails"].find("failure")
    assert failure is not None
    assert failure.get("message") == "expected outcome returned, got merged/None"
    assert cases["passes"].find("failure") is None
    assert cases["passes"].find("error") is None
    error = cases["invalid"].find("error")
    assert error is not None
    assert ":2:10: unknown key 'outcom'" in (error.get("message") or "")
    suite = next(s for s in root.iter("testsuite") if s.get("name") == str(WARM))
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")


def test_junit_file_that_cannot_be_written(write: Write, tmp_path: Path) -> None:
    path = write("expect: {outcome: merged}\n")
    result = runner.invoke(app, ["test", str(path), "--junit", str(tmp_path / "no" / "j.xml")])
    assert result.exit_code == 2
    assert "cannot write" in result.stderr
