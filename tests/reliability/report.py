"""Print the figures of a reliability run: a readable table, then one JSON line (the last).

Usage: python tests/reliability/report.py FIGURES.json
The figures were counted by the tests as they ran (`tests/reliability/figures.py`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

GATES = {
    "faults_survived": lambda f: f["faults_survived"] == f["faults_injected"],
    "bad_inputs_accepted_unsafely": lambda f: f["bad_inputs_accepted_unsafely"] == 0,
    "leaks_found": lambda f: f["leaks_found"] == 0,
    "duplicate_dials": lambda f: f["duplicate_dials"] == 0,
    "pii_leaks": lambda f: f["pii_leaks"] == 0,
    "max_hold_overrun_s": lambda f: f["max_hold_overrun_s"] <= 1.0,
    "hypothesis_examples": lambda f: f["hypothesis_examples"] >= 1000,
}


def main(path: str) -> int:
    file = Path(path)
    if not file.exists():
        print(json.dumps({"error": f"no figures at {path}: the test session did not finish"}))
        return 1
    figures = json.loads(file.read_text(encoding="utf-8"))
    width = max(len(key) for key in figures)
    print("reliability figures (counted by the tests)")
    for key, value in figures.items():
        gate = GATES.get(key)
        mark = "" if gate is None else ("  ok" if gate(figures) else "  NOT MET")
        print(f"  {key:<{width}}  {value}{mark}")
    print(json.dumps(figures, separators=(", ", ": ")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "build/reliability.json"))
