"""Compile a checked `Flow` into a python-statemachine `StateChart` class.

Each step becomes a state named after it; each outcome becomes an event whose transition goes
where the flow (or its documented defaults) says. Every compiled flow also has:

* `requested`, the initial state, left by `start` (or `abort` when a preflight fails);
* `caller_hung_up`, reached from every non-final state by `caller_hangup`;
* `cold_transferred`, reached by a successful cold transfer (only if the flow has one);
* `aborted`, reached from `requested` by `abort`;
* a `max_hold` transition from every step that can run while the caller is held.

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

__all__ = ["CompiledFlow", "Machine", "compile_flow", "compiled", "transition_table"]

Machine = type[StateChart[Any]]
Table = dict[str, dict[str, str]]


@dataclass(frozen=True)
class CompiledFlow:
    """A flow made runnable, once per flow object: the flow, its `StateChart` class, and its
    routing (state -> event -> target), which the engine runs and `graph` and the flow tests
    draw and check."""

    flow: Flow
    machine: Machine
    table: Table


# Keyed by id() with the flow kept alive in the value, so an id is never reused wrongly.
_COMPILED: dict[int, CompiledFlow] = {}
_COMPILED_MAX = 64


def compiled(flow: Flow) -> CompiledFlow:
    """The flow's `CompiledFlow`, built once per flow object for the whole process."""
    cached = _COMPILED.get(id(flow))
    if cached is None or cached.flow is not flow:
        machine = compile_flow(flow)
        cached = CompiledFlow(flow, machine, transition_table(machine))
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
            states[name] = {"name": name, "final": True}
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
        states[name] = {"name": name, "on": {**events, **hangup}}
    states["caller_hung_up"] = {"final": True}
    if any(step.type == "cold_transfer" for step in flow.steps.values()):
        states["cold_transferred"] = {"final": True}
    states["aborted"] = {"final": True}
    class_name = "".join(part.capitalize() for part in flow.name.split("_"))
    # Errors in callbacks must reach the engine, never vanish as an unhandled error event.
    return create_machine_class_from_definition(
        class_name, states=states, catch_errors_as_events=False
    )


def transition_table(machine: Machine) -> Table:
    """State -> event -> target of a compiled flow (`compiled(flow).table` keeps it)."""
    return {
        state.id: {str(t.event): t.target.id for t in state.transitions}
        for state in machine.states
    }
