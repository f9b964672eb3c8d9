"""Compile a checked `Flow` into a python-statemachine `StateChart` class.

Each step becomes a state named after it; each outcome becomes an event whose transition goes
where the flow (or its documented defaults) says. Every compiled flow also has:

* `requested`, the initial state, left by `start` (or `abort` when a preflight fails);
* `caller_hung_up`, reached from every non-final state by `caller_hangup`;
* `cold_transferred`, reached by a successful cold transfer (only if the flow has one);
* `aborted`, reached from `requested` by `abort`;
* a `max_hold` transition from every step that can run while the caller is held.

Each state but `requested` carries its `StepAction` as its enter callback: entering a step's
state stops the visit before it and starts one visit of the step type's action. The
engine (`orchestrator.engine.runtime`) is what runs them; a machine instantiated without it
(`compile_flow(flow)()`) only routes. Why the library's `invoke` does not run the actions
itself is pinned by `tests/engine/test_statemachine_contract.py`: a failing callback rolls
its transition back and rejects every event queued behind it, a completion is routed by its
state and not by its visit, and leaving a state does not wait for its invoke's cleanup.

The library's own structural checks (unreachable states, trap states, final reachability) stay
on, as a second line behind `checks.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from statemachine import StateChart
from statemachine.io import create_machine_class_from_definition

from orchestrator.flow.model import Flow
from orchestrator.flow.outcomes import resolve, successor
from orchestrator.flow.steps import TERMINAL_TYPES
from orchestrator.flow.version import flow_version

__all__ = [
    "CompiledFlow",
    "Machine",
    "StepAction",
    "compile_flow",
    "compiled",
    "transition_table",
]

Machine = type[StateChart[Any]]
Table = dict[str, dict[str, str]]


@dataclass(frozen=True)
class StepAction:
    """What a state does, as its enter callback: entering it stops the visit of the state
    before it and starts a visit of `kind`'s action (`kind` is a step type of
    `flow.steps.STEP_TYPES`, or '' for the engine's own final states, which start none).
    Called by the machine with its model: the engine's runner has `step_entered`; any other
    model (a plain instance) has not, and the machine only routes."""

    state: str
    kind: str

    def enter(self, model: Any) -> None:
        entered = getattr(model, "step_entered", None)
        if entered is not None:
            entered(self.state)


@dataclass(frozen=True)
class CompiledFlow:
    """A flow made runnable, once per flow object: the flow, its `StateChart` class, and its
    routing (state -> event -> target), which the engine runs and `graph` and the flow tests
    draw and check."""

    flow: Flow
    machine: Machine
    table: Table
    actions: dict[str, StepAction]
    """State -> the action its enter callback carries."""
    version: str
    """`flow_version(flow)`: every start writes it (checkpoint, logs), so it is taken once."""


# Keyed by id() with the flow kept alive in the value, so an id is never reused wrongly.
_COMPILED: dict[int, CompiledFlow] = {}
_COMPILED_MAX = 64


def compiled(flow: Flow) -> CompiledFlow:
    """The flow's `CompiledFlow`, built once per flow object for the whole process."""
    cached = _COMPILED.get(id(flow))
    if cached is None or cached.flow is not flow:
        machine = compile_flow(flow)
        table, actions = transition_table(machine), step_actions(machine)
        cached = CompiledFlow(flow, machine, table, actions, flow_version(flow))
        _COMPILED[id(flow)] = cached
        while len(_COMPILED) > _COMPILED_MAX:  # flows loaded again and again: oldest out
            del _COMPILED[next(iter(_COMPILED))]
    return cached


def _after_max_hold(flow: Flow, target: str | None) -> set[str]:
    seen: set[str] = set()
    todo = [target] if target else []
    while todo:
        name = todo.pop()
        if name in seen or name not in flow.steps:
            continue
        seen.add(name)
        step = flow.steps[name]
        follow = successor(step)
        todo.extend(t for t in resolve(flow, step).values() if t)
        if follow:
            todo.append(follow[1])
    return seen


def compile_flow(flow: Flow) -> Machine:
    """Build the state machine class for a flow that `load_flow` accepted."""
    hangup = {"caller_hangup": [{"target": "caller_hung_up"}]}
    states: dict[str, Any] = {
        "requested": {
            "initial": True,
            "on": {
                "start": [{"target": flow.first_step}],
                "abort": [{"target": "aborted"}],
                **hangup,
            },
        },
    }
    max_hold = flow.on_max_hold or flow.fallback
    released = _after_max_hold(flow, max_hold)
    for name, step in flow.steps.items():
        if step.type in TERMINAL_TYPES:
            states[name] = {"name": name, "final": True, **_acts(name, step.type)}
            continue
        events: dict[str, list[dict[str, str]]] = {}
        success = successor(step)
        if success:
            events[success[0]] = [{"target": success[1]}]
        for outcome, target in resolve(flow, step).items():
            if target:
                events[outcome] = [{"target": target}]
        if max_hold and name not in released:
            events["max_hold"] = [{"target": max_hold}]
        states[name] = {"name": name, "on": {**events, **hangup}, **_acts(name, step.type)}
    states["caller_hung_up"] = {"final": True, **_acts("caller_hung_up", "")}
    if any(step.type == "cold_transfer" for step in flow.steps.values()):
        states["cold_transferred"] = {"final": True, **_acts("cold_transferred", "")}
    states["aborted"] = {"final": True, **_acts("aborted", "")}
    class_name = "".join(part.capitalize() for part in flow.name.split("_"))
    # Errors in callbacks must reach the engine, never vanish as an unhandled error event.
    return create_machine_class_from_definition(
        class_name, states=states, catch_errors_as_events=False
    )


def _acts(state: str, kind: str) -> dict[str, Any]:
    action = StepAction(state, kind)
    # Enter only: entering a state also stops the visit before it (every way out of a
    # state enters another), and each callback costs every instance its resolution.
    return {"enter": [action.enter]}


def step_actions(machine: Machine) -> dict[str, StepAction]:
    """State -> the `StepAction` its callbacks carry, read off the compiled class."""
    found: dict[str, StepAction] = {}
    for state in machine.states:
        for spec in state.enter:
            action = getattr(spec.func, "__self__", None)
            if isinstance(action, StepAction):
                found[state.id] = action
    return found


def transition_table(machine: Machine) -> Table:
    """State -> event -> target of a compiled flow (`compiled(flow).table` keeps it)."""
    return {
        state.id: {str(t.event): t.target.id for t in state.transitions}
        for state in machine.states
    }
