"""Run a scenario test on the simulated clock and compare what happened with `expect`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.clock import ManualClock
from orchestrator.engine import TransferOutcome
from orchestrator.errors import OrchestratorError
from orchestrator.flow.compiler import compiled
from orchestrator.flow.model import Flow
from orchestrator.flowtests.capture import captured
from orchestrator.flowtests.model import Expect, FlowTest
from orchestrator.logs import mask
from orchestrator.simulate import simulate

__all__ = ["FlowTestResult", "arun_flow_test", "check", "coverage", "run_flow_test"]


@dataclass
class FlowTestResult:
    """What one scenario test found. `failures` holds one "expected X, got Y" per
    expectation that did not hold; `outcome` is None only when the transfer never ran."""

    name: str
    path: Path
    flow_path: Path
    passed: bool
    failures: list[str]
    outcome: TransferOutcome | None
    events: list[dict[str, Any]] = field(default_factory=list)
    """The engine's log events, masked, each with `at`: simulated seconds since the start."""
    steps: list[str] = field(default_factory=list)
    """The steps entered, in order (a step entered twice is listed twice)."""
    said_to_caller: list[str] = field(default_factory=list)
    said_to_supervisor: list[str] = field(default_factory=list)
    supervisor_asked: list[str] = field(default_factory=list)
    """What the supervisor asked a conversational brief."""
    transitions: list[tuple[str, str]] = field(default_factory=list)
    """(state, event) for every transition, in order: what `coverage` counts."""
    simulated_seconds: float = 0.0
    flow_name: str = ""
    """The `name` of the flow run, which `coverage` matches."""


def run_flow_test(test: FlowTest) -> FlowTestResult:
    """`arun_flow_test` in a new event loop (not from inside a running one)."""
    return asyncio.run(arun_flow_test(test))


async def arun_flow_test(test: FlowTest) -> FlowTestResult:
    """Run the scenario against its flow in a fresh sandbox; no real waiting."""
    clock = ManualClock()
    outcome: TransferOutcome | None = None
    problem: str | None = None
    said_to_caller: list[str] = []
    said_to_supervisor: list[str] = []
    supervisor_asked: list[str] = []
    with captured(clock) as capture:
        try:
            simulation = await simulate(test.flow, test.scenario, flavor=test.flavor, clock=clock)
        except OrchestratorError as error:  # refused before it started (a grant, the server)
            problem = f"expected a transfer, got none: {error}"
        except RuntimeError as error:  # the simulation had nothing left to wait for
            problem = f"expected an outcome, got none: {error}"
        else:
            outcome = simulation.outcome
            for call in simulation.media.calls:
                if call.action == "say_to_caller":
                    said_to_caller.append(call.text)
                elif call.action in ("brief", "said_to_supervisor"):
                    said_to_supervisor.append(call.text)
                elif call.action == "supervisor_asked":
                    supervisor_asked.append(call.text)
    transitions = [(source, trigger) for source, _, trigger in capture.transitions]
    steps = [target for _, target, _ in capture.transitions if target in test.flow.steps]
    failures = (
        [problem]
        if problem
        else check(test, outcome, steps, said_to_caller, said_to_supervisor, supervisor_asked)
    )
    return FlowTestResult(
        name=test.name,
        path=test.path,
        flow_path=test.flow_path,
        passed=not failures,
        failures=failures,
        outcome=outcome,
        events=capture.events,
        steps=steps,
        said_to_caller=said_to_caller,
        said_to_supervisor=said_to_supervisor,
        supervisor_asked=supervisor_asked,
        transitions=transitions,
        simulated_seconds=round(clock.now(), 3),
        flow_name=test.flow.name,
    )


def _names(values: Sequence[object]) -> str:
    return ", ".join(str(v) for v in values) if values else "none"


def _in_order(wanted: Sequence[str], seen: Sequence[str]) -> bool:
    remaining = iter(seen)
    return all(step in remaining for step in wanted)  # `in` consumes the iterator


def _said(texts: Sequence[str]) -> str:
    return " | ".join(f'"{mask(text)}"' for text in texts) if texts else "nothing"


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


def check(
    test: FlowTest,
    outcome: TransferOutcome | None,
    steps: Sequence[str],
    said_to_caller: Sequence[str],
    said_to_supervisor: Sequence[str],
    supervisor_asked: Sequence[str] = (),
) -> list[str]:
    """One "expected X, got Y" per expectation written in the file that did not hold."""
    expect: Expect = test.expect
    written = test.expected
    failures: list[str] = []
    kind = outcome.kind if outcome else None
    reason = outcome.reason if outcome else None
    attempts = outcome.attempts if outcome else []
    if {"outcome", "reason"} <= written:
        if (expect.outcome, expect.reason) != (kind, reason):
            failures.append(
                f"expected outcome {expect.outcome}/{expect.reason}, got {kind}/{reason}"
            )
    elif "outcome" in written and expect.outcome != kind:
        failures.append(f"expected outcome {expect.outcome}, got {kind}/{reason}")
    elif "reason" in written and expect.reason != reason:
        failures.append(f"expected reason {expect.reason}, got {reason}")
    dialled = [attempt.target for attempt in attempts]
    if "dialled" in written and expect.dialled != dialled:
        failures.append(f"expected dialled {_names(expect.dialled or [])}, got {_names(dialled)}")
    shown = [attempt.caller_id for attempt in attempts]
    if "caller_id" in written and expect.caller_id != shown:
        failures.append(
            f"expected caller_id {_names(expect.caller_id or [])}, got {_names(shown)}"
        )
    if "steps" in written and not _in_order(expect.steps or [], steps):
        failures.append(
            f"expected steps {_names(expect.steps or [])} in this order, got {_names(steps)}"
        )
    for key, heard in (
        ("said_to_caller", said_to_caller),
        ("said_to_supervisor", said_to_supervisor),
        ("supervisor_asked", supervisor_asked),
    ):
        for text in getattr(expect, key) or []:
            if not any(_normal(text) in _normal(said) for said in heard):
                failures.append(f'expected {key} "{text}", got {_said(heard)}')
    hold = outcome.hold_seconds if outcome else 0.0
    at_most = expect.hold_seconds_at_most
    if at_most is not None and hold > at_most:
        failures.append(f"expected hold_seconds_at_most {at_most:g}, got {hold:g}")
    # The outcome's status, as `transfer.finished` logs it: the attempt that ended the dial
    # (in a ring group the last phone to give up, not the last one listed), or a cold
    # transfer's REFER.
    status = outcome.sip_status if outcome else None
    if "sip_status" in written and expect.sip_status != status:
        failures.append(f"expected sip_status {expect.sip_status}, got {status}")
    return failures


_FLOW_WIDE = ("max_hold", "caller_hangup")
"""Events any held step can take: counted once per flow, not once per step."""


def _outcomes(flow: Flow) -> list[tuple[str, str]]:
    """(step, outcome) for every way the engine's routing lets a step be left, then
    ("", event) for the flow-wide events it has."""
    table = compiled(flow).table
    pairs = [
        (name, event)
        for name in flow.steps
        for event in table.get(name, {})
        if event not in _FLOW_WIDE
    ]
    wide = {event for events in table.values() for event in events}
    return pairs + [("", event) for event in _FLOW_WIDE if event in wide]


def coverage(flow: Flow, results: Sequence[FlowTestResult]) -> tuple[list[str], list[str]]:
    """The steps no result of this flow (matched by name) entered, and the outcomes none
    reached, both in the flow's order: `step.outcome` (like `dial_supervisor.busy`: the step
    left by that outcome), then `max_hold` and `caller_hangup` (the caller's hold ran out,
    the caller hung up)."""
    results = [result for result in results if result.flow_name == flow.name]
    entered = {step for result in results for step in result.steps}
    left = {pair for result in results for pair in result.transitions}
    happened = {event for _, event in left}
    steps = [name for name in flow.steps if name not in entered]
    outcomes = [
        f"{step}.{event}" if step else event
        for step, event in _outcomes(flow)
        if ((step, event) not in left if step else event not in happened)
    ]
    return steps, outcomes
