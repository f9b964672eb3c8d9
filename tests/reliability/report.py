"""Print the figures of a reliability run: a readable table, then one JSON line (the last).

Usage: python -m tests.reliability.report FIGURES.json
The figures were counted by the tests as they ran (`tests/reliability/figures.py`).
"""

from __future__ import annotations

import sys

from tests.report import Gates, show

GATES: Gates = {
    "faults_survived": lambda f: f["faults_survived"] == f["faults_injected"],
    "bad_inputs_accepted_unsafely": lambda f: f["bad_inputs_accepted_unsafely"] == 0,
    "leaks_found": lambda f: f["leaks_found"] == 0,
    "duplicate_dials": lambda f: f["duplicate_dials"] == 0,
    "pii_leaks": lambda f: f["pii_leaks"] == 0,
    "max_hold_overrun_s": lambda f: f["max_hold_overrun_s"] <= 1.0,
    "hypothesis_examples": lambda f: f["hypothesis_examples"] >= 1000,
    "random_mixes": lambda f: f["random_mixes"] >= 300,
    # README: the outcome at most 90 s of cleanup after the caller is free, plus, when a
    # dial cut short is waited for, its ring timeout (at most 30 s in the shipped flows) +
    # 20 s. INV-BOUND checks each case against its own flow's bound.
    "max_off_hold_to_outcome_s": lambda f: f["max_off_hold_to_outcome_s"] <= 90 + 30 + 20,
}


if __name__ == "__main__":
    title = "reliability figures (counted by the tests)"
    sys.exit(show(sys.argv[1] if len(sys.argv) > 1 else "build/reliability.json", title, GATES))
