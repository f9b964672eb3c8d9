"""The compiled flow carries each step's action on its state (`flow.compiler.StepAction`),
declared once per step type (`flow.steps.STEP_TYPES`, `engine.actions.ACTIONS`)."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest

from orchestrator import load_flow
from orchestrator.engine.actions import ACTIONS
from orchestrator.engine.runtime import Runtime
from orchestrator.flow.compiler import compiled
from orchestrator.flow.outcomes import FAILURES
from orchestrator.flow.steps import STEP_TYPES, TERMINAL_TYPES

ROOT = Path(__file__).resolve().parent.parent.parent
FLOWS = sorted((ROOT / "flows").glob("*.yaml"))


def test_every_non_terminal_step_type_has_one_action_and_its_outcomes() -> None:
    doing = {name for name, kind in STEP_TYPES.items() if not kind.terminal}
    assert set(ACTIONS) == doing == set(FAILURES)
    assert {name for name, kind in STEP_TYPES.items() if kind.terminal} == TERMINAL_TYPES


@pytest.mark.parametrize("path", FLOWS, ids=[p.stem for p in FLOWS])
def test_every_state_but_requested_carries_its_step_action(path: Path) -> None:
    flow = compiled(load_flow(path))
    states = {state.id for state in flow.machine.states}
    assert set(flow.actions) == states - {"requested"}
    for name, step in flow.flow.steps.items():
        assert flow.actions[name].kind == step.type


def test_the_compiled_flow_is_made_once_per_flow_object() -> None:
    flow = load_flow(ROOT / "flows" / "warm_transfer.yaml")
    assert compiled(flow) is compiled(flow)
    assert compiled(load_flow(ROOT / "flows" / "warm_transfer.yaml")) is not compiled(flow)


def test_entering_calls_the_runner_and_a_plain_instance_only_routes() -> None:
    flow = compiled(load_flow(ROOT / "flows" / "warm_transfer.yaml"))
    calls: list[tuple[str, str]] = []

    class Runner:
        state = None

        def step_entered(self, state: str) -> None:
            calls.append(("entered", state))

    machine = flow.machine(model=Runner())
    machine.send("start")
    machine.send("held")
    machine.send("caller_hangup")
    assert calls == [
        ("entered", "hold_caller"),
        ("entered", "dial_supervisor"),
        ("entered", "caller_hung_up"),
    ]
    plain = flow.machine()
    plain.send("start")
    assert plain.configuration_values == {"hold_caller"}


def test_a_runtime_and_its_host_are_freed_without_the_garbage_collector() -> None:
    """The runtime's host (the transfer) and its machine's model hold no reference cycle
    through the runtime: a finished transfer goes as soon as it is let go of, not at the
    collector's next full pass (which every transfer kept waiting makes costlier)."""

    class Host:
        def entering(self, name: str) -> None: ...

        def left(self, source: str, event: str) -> None: ...

        async def act(self, name: str) -> str:
            return "held"

    host = Host()
    runtime = Runtime(compiled(load_flow(ROOT / "flows" / "warm_transfer.yaml")), host, log=None)
    host.runtime = runtime  # type: ignore[attr-defined]  # as a transfer holds its runtime
    freed = weakref.ref(host), weakref.ref(runtime)
    gc.disable()
    try:
        del host, runtime
        assert [ref() for ref in freed] == [None, None]
    finally:
        gc.enable()
