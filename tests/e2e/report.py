"""Print the figures of an end-to-end run: a readable table, then one JSON line (the last).

Usage: python tests/e2e/report.py FIGURES.json
The figures were counted by the tests as they ran (`tests/e2e/figures.py`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

GATES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "e2e_passed": lambda f: f["e2e_passed"] == f["e2e_scenarios"] > 0,
    "conformance_differences": lambda f: f["conformance_differences"] == 0,
    "invite_from_is_caller": lambda f: f["invite_from_is_caller"] is True,
    "leaks_found": lambda f: f["leaks_found"] == 0,
    "worker_passed": lambda f: f["worker_passed"] == f["worker_scenarios"] > 0,
    "recoveries_passed": lambda f: f["recoveries_passed"] == f["recovery_scenarios"] > 0,
    "tests_failed": lambda f: f["tests_failed"] == 0,
}


def main(path: str) -> int:
    file = Path(path)
    if not file.exists():
        print(json.dumps({"error": f"no figures at {path}: the test session did not finish"}))
        return 1
    figures = json.loads(file.read_text(encoding="utf-8"))
    width = max(len(key) for key in figures)
    print("end-to-end figures (counted by the tests, real stack and sandbox)")
    for key, value in figures.items():
        gate = GATES.get(key)
        mark = "" if gate is None else ("  ok" if gate(figures) else "  NOT MET")
        print(f"  {key:<{width}}  {value}{mark}")
    print(json.dumps(figures, separators=(", ", ": ")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "build/e2e.json"))
