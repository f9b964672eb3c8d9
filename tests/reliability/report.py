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
}


if __name__ == "__main__":
    title = "reliability figures (counted by the tests)"
    sys.exit(show(sys.argv[1] if len(sys.argv) > 1 else "build/reliability.json", title, GATES))
