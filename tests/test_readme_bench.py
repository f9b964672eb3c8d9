"""The README's performance table shows what `make bench` last saved in bench/results.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_performance_table_matches_the_saved_figures() -> None:
    results = json.loads((ROOT / "bench" / "results.json").read_text())
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Performance") : readme.index("## Limits")]
    rows = re.findall(r"^\| `(\w+)`[^|]*\| ([\d,.]+)[^|]*\|", section, re.MULTILINE)
    assert len(rows) >= 12, rows
    for key, shown in rows:
        assert key in results, f"README row {key!r} is not a key of bench/results.json"
        decimals = len(shown.split(".")[1]) if "." in shown else 0
        value = float(shown.replace(",", ""))
        assert abs(value - results[key]) <= 0.5 * 10**-decimals + 1e-9, (key, shown, results[key])
