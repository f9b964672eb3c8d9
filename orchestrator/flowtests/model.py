"""The scenario test file: a sandbox scenario that names its flow and what must happen.

A scenario test is a `Scenario` (caller, trunk, phones, faults) plus `flow` (the flow file,
relative to the scenario file), `expect` (the expectations) and optionally `name` and
`description`. It is read by the same strict reader as flows, and then checked against its
flow: a phone number no target of the flow has, a target or step name the flow does not
have, are problems positioned in the scenario file, with a "did you mean".
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.engine.outcome import OutcomeKind
from orchestrator.errors import FlowError, Problem
from orchestrator.flow import load_flow
from orchestrator.flow.loader import load_document
from orchestrator.flow.model import Flow
from orchestrator.flow.reader import Document
from orchestrator.flow.values import FreeText, Name
from orchestrator.flowtests.discover import is_flow_test
from orchestrator.sandbox import Scenario

__all__ = ["Expect", "FlowTest", "FlowTestFile", "load_flow_test", "target_numbers"]

_HINT_CANDIDATES = 50  # difflib is quadratic: a hostile file's hints stay cheap


class Expect(BaseModel):
    """What must have happened. Only the keys written are checked."""

    model_config = ConfigDict(extra="forbid", strict=True)

    outcome: OutcomeKind | None = Field(
        None,
        description="merged, returned, caller_hung_up, cold_transferred, hung_up or failed.",
    )
    reason: Name | None = Field(
        None, description="Why (no_answer, busy, declined, max_hold ...); null for none."
    )
    dialled: list[Name] | None = Field(
        None, max_length=100, description="Target names, one per attempt, in order."
    )
    caller_id: list[Literal["caller", "business"]] | None = Field(
        None, max_length=100, description="The caller ID shown on each attempt, in order."
    )
    steps: list[Name] | None = Field(
        None,
        max_length=1000,
        description="Steps visited in this order; other steps may come between.",
    )
    said_to_caller: list[FreeText] | None = Field(
        None, max_length=100, description="Texts that must appear in what the caller heard."
    )
    said_to_supervisor: list[FreeText] | None = Field(
        None, max_length=100, description="Texts that must appear in the supervisors' briefs."
    )
    supervisor_asked: list[FreeText] | None = Field(
        None,
        max_length=100,
        description="Texts that must appear in what the supervisor asked a conversational "
        "brief (`on_brief: {ask: [...]}`).",
    )
    hold_seconds_at_most: float | None = Field(None, ge=0, le=86_400)
    sip_status: int | None = Field(
        None,
        ge=100,
        le=699,
        description="The outcome's SIP status (the attempt that ended the dial, or a "
        "cold transfer's REFER); null for none.",
    )


class FlowTestFile(Scenario):
    """The file as written: the scenario's keys and the test's own."""

    flow: str = Field(min_length=1, max_length=1024, description="The flow file, relative.")
    expect: Expect
    name: Name | None = None
    description: FreeText | None = None
    flavor: Literal["cloud", "oss"] = Field(
        "cloud", description="The LiveKit run against: cloud, or oss (self-hosted: no move)."
    )

    def scenario(self) -> Scenario:
        """The sandbox scenario alone (what `simulate` runs)."""
        return Scenario.model_validate(
            {key: getattr(self, key) for key in Scenario.model_fields}, strict=False
        )


@dataclass(frozen=True)
class FlowTest:
    """A loaded, checked scenario test, ready to run."""

    name: str
    path: Path
    flow_path: Path
    flow: Flow
    scenario: Scenario
    expect: Expect
    expected: frozenset[str]
    """The `expect` keys written (a `reason: null` is an expectation too)."""
    description: str | None = None
    flavor: Literal["cloud", "oss"] = "cloud"


def target_numbers(flow: Flow) -> dict[str, str]:
    """Every phone number the flow can call, to the target name that has it (a `tel:` URI
    counts; a `sip:` URI has no number to script)."""
    numbers: dict[str, str] = {}
    for name, target in flow.targets.items():
        number = target.number
        if number is None and target.uri and target.uri.startswith("tel:"):
            number = target.uri.removeprefix("tel:").split(";", 1)[0]
        if number is not None:
            numbers.setdefault(number, name)
    return numbers


def _hint(name: str, choices: Iterable[str]) -> str:
    pool = [c for c in choices if abs(len(c) - len(name)) <= 3][:_HINT_CANDIDATES]
    close = difflib.get_close_matches(name, pool, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _check(test: FlowTestFile, flow: Flow, doc: Document) -> list[Problem]:
    problems: list[Problem] = []

    def add(path: tuple[str | int, ...], message: str, *, key: bool = False) -> None:
        problems.append(Problem(*doc.position(path, key=key), message))

    numbers = target_numbers(flow)
    for number in test.phones:
        if number == "default" or number in numbers:
            continue
        known = ", ".join(f"{n} ({t})" for n, t in sorted(numbers.items())) or "none"
        add(
            ("phones", number),
            f"phones: no target of flow '{flow.name}' has the number {number}"
            f"{_hint(number, numbers)}; its targets' numbers: {known}",
            key=True,
        )
    expect = test.expect
    for index, target in enumerate(expect.dialled or []):
        if target not in flow.targets:
            add(
                ("expect", "dialled", index),
                f"expect.dialled: flow '{flow.name}' has no target '{target}'"
                f"{_hint(target, flow.targets)}; its targets: {', '.join(flow.targets)}",
            )
    for index, step in enumerate(expect.steps or []):
        if step not in flow.steps:
            add(
                ("expect", "steps", index),
                f"expect.steps: flow '{flow.name}' has no step '{step}'"
                f"{_hint(step, flow.steps)}; its steps: {', '.join(flow.steps)}",
            )
    if (
        expect.dialled is not None
        and expect.caller_id is not None
        and len(expect.dialled) != len(expect.caller_id)
    ):
        add(
            ("expect", "caller_id"),
            f"expect.caller_id: one entry per attempt, like dialled ({len(expect.dialled)} "
            f"there, {len(expect.caller_id)} here)",
        )
    clocked = [name for name, step in flow.steps.items() if step.type == "open_hours"]
    if clocked and test.now is None:
        add(
            (),
            f"now: flow '{flow.name}' decides by the clock (step {clocked[0]}): set now: to "
            "the moment the test runs at, like now: 2026-12-05T19:02:00+00:00",
        )
    if not expect.model_fields_set:
        add(("expect",), "expect: write at least one expectation, like `outcome: merged`")
    return problems


# The loader names a file's top level "flow"; in a scenario test `flow` is a key of its own.
_TOP = re.compile(r"^flow: (?=missing required key)| in flow(?= \(|;)")


def _top_level(problem: Problem) -> Problem:
    def words(match: re.Match[str]) -> str:
        return "" if match[0].startswith("flow") else " at the top level"

    return Problem(problem.line, problem.column, _TOP.sub(words, problem.message))


def load_flow_test(path: str | Path) -> FlowTest:
    """Read a scenario test and its flow; raises FlowError with positioned problems (the
    flow's own problems are positioned in the flow file)."""
    path = Path(path)
    if path.is_file() and not is_flow_test(path):
        raise FlowError(
            str(path),
            [
                Problem(
                    1,
                    1,
                    "not a scenario test: it has no top-level `flow:` key naming the "
                    "flow it tests (flows are checked by `orchestrator validate`)",
                )
            ],
        )
    try:
        test, doc, label = load_document(path, FlowTestFile)
    except FlowError as error:
        raise FlowError(error.source, [_top_level(p) for p in error.problems]) from None
    flow_path = Path(os.path.normpath(path.parent / test.flow))
    if not flow_path.is_file():
        where = doc.position(("flow",))
        raise FlowError(
            label,
            [Problem(*where, f"flow: there is no flow file {flow_path} (relative to this file)")],
        )
    flow = load_flow(flow_path)
    problems = _check(test, flow, doc)
    if problems:
        raise FlowError(label, problems)
    return FlowTest(
        name=test.name or path.stem,
        path=path,
        flow_path=flow_path,
        flow=flow,
        scenario=test.scenario(),
        expect=test.expect,
        expected=frozenset(test.expect.model_fields_set),
        description=test.description,
        flavor=test.flavor,
    )
