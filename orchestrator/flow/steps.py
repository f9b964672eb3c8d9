"""What each step type is, declared once: its success outcome, its failure outcomes, whether
it is terminal (and which outcome kind it ends a transfer with), and whether it works with
an answered supervisor's leg (a failure of such a step ends that leg).

The flow language (`model.py`), the outcome table (`outcomes.py`), the compiler, the checks,
the engine's actions (`orchestrator.engine.actions.ACTIONS`, one per non-terminal type,
checked against this table at import) and its cleanup all read it from here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STEP_TYPES", "TERMINAL_TYPES", "StepType"]


@dataclass(frozen=True)
class StepType:
    """One step type of the flow language."""

    success: str | None = None
    """The outcome event of a visit that went well (None: terminal)."""
    failures: tuple[str, ...] = ()
    """Every other outcome a visit can have (`exhausted` aside: see `outcomes.is_budgeted`)."""
    ends_as: str | None = None
    """Terminal steps: the outcome kind a transfer ending here has."""
    holds_leg: bool = False
    """Runs with an answered supervisor on the line: any outcome but success ends the leg."""

    @property
    def terminal(self) -> bool:
        return self.ends_as is not None


STEP_TYPES: dict[str, StepType] = {
    "hold": StepType("held", ("failed",)),
    "dial": StepType(
        "answered",
        (
            "no_answer",
            "busy",
            "declined",
            "voicemail",
            "unavailable",
            "caller_id_rejected",
            "failed",
        ),
        holds_leg=True,
    ),
    "brief": StepType(
        "accepted", ("declined", "timeout", "supervisor_left", "failed"), holds_leg=True
    ),
    "merge": StepType("merged", ("move_failed", "supervisor_left", "failed"), holds_leg=True),
    "announce": StepType("done", ("failed",)),
    "cold_transfer": StepType("transferred", ("failed",)),
    "open_hours": StepType("schedule_open", ("schedule_closed",)),
    "callback": StepType("callback", ("no_number", "failed")),
    "exit": StepType(ends_as="merged"),
    "return_to_agent": StepType(ends_as="returned"),
    "hangup": StepType(ends_as="hung_up"),
}

TERMINAL_TYPES = frozenset(name for name, kind in STEP_TYPES.items() if kind.terminal)
