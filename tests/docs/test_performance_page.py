"""The table of docs/performance.md shows what `make bench` last saved in bench/results.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_performance_table_matches_the_saved_figures() -> None:
    results = json.loads((ROOT / "bench" / "results.json").read_text())
    page = (ROOT / "docs" / "performance.md").read_text()
    section = page[page.index("## The figures") : page.index("## How many transfers")]
    rows = re.findall(r"^\| `(\w+)`[^|]*\| ([\d,.]+)[^|]*\|", section, re.MULTILINE)
    assert len(rows) >= 12, rows
    for key, shown in rows:
        assert key in results, f"performance.md row {key!r} is not a key of bench/results.json"
        decimals = len(shown.split(".")[1]) if "." in shown else 0
        value = float(shown.replace(",", ""))
        assert abs(value - results[key]) <= 0.5 * 10**-decimals + 1e-9, (key, shown, results[key])
