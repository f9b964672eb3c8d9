"""A compiled flow's states, each with the action its enter callback carries and the
events that leave it.

    python -m tools.flow_actions flows/warm_transfer.yaml
"""

from __future__ import annotations

import sys

from orchestrator import load_flow
from orchestrator.flow.compiler import compiled
from orchestrator.flow.steps import STEP_TYPES

__all__ = ["describe"]


def describe(path: str) -> str:
    flow = compiled(load_flow(path))
    lines = [f"{flow.machine.__name__} ({path})"]
    for state in flow.machine.states:
        action = flow.actions.get(state.id)
        if action is None:
            does = "none (the initial state: `start` leaves it)"
        elif action.kind == "":
            does = "final, the engine's own: cleanup (engine.cleanup) ends the transfer"
        elif STEP_TYPES[action.kind].terminal:
            ends = STEP_TYPES[action.kind].ends_as
            does = f"final `{action.kind}`: cleanup (engine.cleanup) ends it as `{ends}`"
        else:
            does = f"enter: stop the last visit, start one of `{action.kind}` (actions.ACTIONS)"
        lines.append(f"  {state.id}: {does}")
        for event, target in flow.table.get(state.id, {}).items():
            lines.append(f"      {event} -> {target}")
    return "\n".join(lines)


if __name__ == "__main__":
    for argument in sys.argv[1:] or ["flows/warm_transfer.yaml"]:
        print(describe(argument))
