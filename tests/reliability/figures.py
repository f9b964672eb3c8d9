"""The reliability figures, counted by the tests as they run (never typed in).

One `Figures` object per test session. The rig (`harness.Rig`) counts fault cases, leaks,
duplicate dials, canary hits and hold overruns; the bad-input tests count what they tried and
how it was handled; the stateful tests count their examples. `conftest.py` writes the figures
to `$RELIABILITY_REPORT` (JSON) when the session ends, and `report.py` prints them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["FIGURES", "Figures"]


@dataclass
class Figures:
    faults_injected: int = 0
    faults_survived: int = 0
    bad_inputs_tried: int = 0
    bad_inputs_rejected: int = 0
    bad_inputs_accepted_unsafely: int = 0
    leaks_found: int = 0
    duplicate_dials: int = 0
    pii_leaks: int = 0
    max_hold_overrun_s: float = 0.0
    hypothesis_examples: int = 0
    random_mixes: int = 0
    """Random fault mixes run (`test_random_mixes.py`), each checked by `Rig.verify()`."""
    max_hold_observed_s: float = 0.0
    """The longest total caller hold seen in any case (each flow has its own `max_hold`)."""
    max_off_hold_to_outcome_s: float = 0.0
    """The longest wait, in any case, from the caller's last hold ending (or the transfer's
    start, if never held) to its outcome: cleanup's retries after the caller is free."""
    merged_calls_ended: int = 0
    """Merged calls the rig ended after their outcome (one side hanging up)."""
    max_after_merge_release_s: float = 0.0
    """The longest time, in any case whose LiveKit answered, from one side of a merged call
    hanging up to the other's phone getting BYE."""
    await_points_cancel_tested: int = 0
    """Distinct (flow, mode, request number) points where a cancellation was injected."""
    invariant_checks: int = 0
    known_engine_bugs: int = 0
    """Tests marked xfail(strict) for an engine or sandbox bug, that failed as expected."""
    tests_failed: int = 0

    def bad_input(self, *, rejected: bool, unsafe: bool) -> None:
        """One hostile input tried: refused or neutralised, and whether it got through raw."""
        self.bad_inputs_tried += 1
        self.bad_inputs_rejected += int(rejected and not unsafe)
        self.bad_inputs_accepted_unsafely += int(unsafe)

    def hold(self, observed_s: float, max_hold_s: float) -> None:
        self.max_hold_observed_s = max(self.max_hold_observed_s, round(observed_s, 3))
        overrun = round(max(0.0, observed_s - max_hold_s), 3)
        self.max_hold_overrun_s = max(self.max_hold_overrun_s, overrun)

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)

    def dump(self, path: str | Path) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.as_dict(), sort_keys=False) + "\n", encoding="utf-8")


FIGURES = Figures()
