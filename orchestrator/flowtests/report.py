"""The text report of `orchestrator test`: a line per scenario, then what no test reached."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from orchestrator.errors import FlowError
from orchestrator.flowtests.model import FlowTest
from orchestrator.flowtests.runner import FlowTestResult, coverage

__all__ = ["report"]


def report(
    tests: Sequence[FlowTest],
    results: Sequence[FlowTestResult],
    invalid: Sequence[tuple[Path, FlowError]] = (),
) -> list[str]:
    """Problems first (`PATH:LINE:COL: message`), then `PASS name` or `FAIL name: expected
    ..., got ...` per test, then per flow the steps and outcomes no test reached."""
    # Tests of one invalid flow all carry its problems: each is printed once.
    problems = (problem.render(error.source) for _, error in invalid for problem in error.problems)
    lines = list(dict.fromkeys(problems))
    for result in results:
        if result.passed:
            lines.append(f"PASS {result.name}")
        else:
            lines.append(f"FAIL {result.name}: {'; '.join(result.failures)}")
    by_flow: dict[Path, list[FlowTestResult]] = {}
    flows = {test.flow_path.resolve(): test for test in tests}
    for result in results:
        by_flow.setdefault(result.flow_path.resolve(), []).append(result)
    for resolved, group in by_flow.items():
        test = flows[resolved]
        steps, outcomes = coverage(test.flow, group)
        reached = "every step reached" if not steps else f"steps not reached: {', '.join(steps)}"
        tail = f"; outcomes not reached: {', '.join(outcomes)}" if outcomes else ""
        lines.append(f"{test.flow_path}: {reached}{tail}")
    return lines
