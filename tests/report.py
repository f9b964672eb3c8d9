"""Print figures the tests counted: a readable table, then one JSON line (the last).

`make reliability` and `make e2e` end with it (`python -m tests.reliability.report`,
`python -m tests.e2e.harness.report`), each with its own gates.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["Gates", "show"]

Gates = Mapping[str, Callable[[dict[str, Any]], bool]]


def show(path: str, title: str, gates: Gates) -> int:
    """Print the figures at `path`, each gate marked `ok` or `NOT MET`; 1 if there are none."""
    file = Path(path)
    if not file.exists():
        print(json.dumps({"error": f"no figures at {path}: the test session did not finish"}))
        return 1
    figures = json.loads(file.read_text(encoding="utf-8"))
    width = max(len(key) for key in figures)
    print(title)
    for key, value in figures.items():
        gate = gates.get(key)
        mark = "" if gate is None else ("  ok" if gate(figures) else "  NOT MET")
        print(f"  {key:<{width}}  {value}{mark}")
    print(json.dumps(figures, separators=(", ", ": ")))
    return 0
