"""Which outcomes each step type can produce, and where a flow sends each one.

This table (read off `steps.STEP_TYPES`) is shared by the semantic checks, the compiler and
the documentation. An outcome
is resolved in this order: the step's own `outcomes.<name>`, then its `outcomes.failed`
(every failure outcome), then the flow's `fallback`.
"""

from __future__ import annotations

from orchestrator.flow.model import Flow, Step
from orchestrator.flow.steps import STEP_TYPES

__all__ = ["BUILTIN_STATES", "EVENTS", "FAILURES", "is_budgeted", "resolve", "successor"]

FAILURES: dict[str, tuple[str, ...]] = {
    name: kind.failures for name, kind in STEP_TYPES.items() if not kind.terminal
}

# States every compiled flow has besides its steps; step names may not take these.
BUILTIN_STATES = ("requested", "caller_hung_up", "cold_transferred", "aborted")
_CONTROL_EVENTS = ("start", "abort", "caller_hangup", "max_hold", "exhausted")
EVENTS = frozenset(
    {*_CONTROL_EVENTS}
    | {kind.success for kind in STEP_TYPES.values() if kind.success}
    | {name for names in FAILURES.values() for name in names}
)


def is_budgeted(step: Step) -> bool:
    """Whether visits to this step are limited (dial chains are, by their length)."""
    return step.type == "dial" or getattr(step, "max_visits", None) is not None


def successor(step: Step) -> tuple[str, str] | None:
    """The success event and the step it leads to; None for terminal steps."""
    if step.type == "cold_transfer":
        return ("transferred", "cold_transferred")
    if step.type == "open_hours":
        return ("schedule_open", step.open)
    target = getattr(step, "next", None)
    if target is None:
        return None
    success = STEP_TYPES[step.type].success
    assert success is not None  # a step with a `next` is not terminal
    return (success, target)


def resolve(flow: Flow, step: Step) -> dict[str, str | None]:
    """Every non-success outcome of `step` mapped to a step name, or None if unhandled."""
    if step.type not in FAILURES:
        return {}
    if step.type == "open_hours":  # not a failure: the other way of two
        return {"schedule_closed": step.closed}
    outcomes = step.outcomes  # type: ignore[union-attr]
    names = list(FAILURES[step.type])
    if is_budgeted(step):
        names.append("exhausted")
    return {
        name: getattr(outcomes, name, None) or outcomes.failed or flow.fallback for name in names
    }
