"""The watchdog's counters: what it received, refused, skipped and dispatched.

Read them as `watchdog.metrics.snapshot()` (a dict, also in `GET /healthz`) or in the
Prometheus text format at `GET /metrics`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Metrics"]

_HELP = {
    "webhooks": "Webhooks received, by result (accepted, refused_<why>, ignored, duplicate).",
    "decisions": "Losses assessed, by result (dispatched, or why nothing was done).",
    "dispatch_attempts": "CreateDispatch calls made (retries included).",
    "dispatch_failures": "Losses whose dispatch failed after every retry.",
    "sweeps": "Sweeps of the room list run.",
    "errors": "Losses not assessed because LiveKit could not be asked.",
}


@dataclass
class Metrics:
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def count(self, name: str, result: str = "") -> None:
        self.counts[(name, result)] += 1

    def get(self, name: str, result: str = "") -> int:
        return self.counts[(name, result)]

    def total(self, name: str) -> int:
        return sum(n for (key, _), n in self.counts.items() if key == name)

    def snapshot(self) -> dict[str, int]:
        """`{"webhooks.refused_forged": 2, "decisions.dispatched": 1, ...}`."""
        return {
            f"{name}.{result}" if result else name: n
            for (name, result), n in sorted(self.counts.items())
        }

    def prometheus(self) -> str:
        lines: list[str] = []
        for name, text in _HELP.items():
            metric = f"orchestrator_watchdog_{name}_total"
            lines += [f"# HELP {metric} {text}", f"# TYPE {metric} counter"]
            rows = sorted((r, n) for (key, r), n in self.counts.items() if key == name)
            for result, n in rows or [("", 0)]:
                label = f'{{result="{result}"}}' if result else ""
                lines.append(f"{metric}{label} {n}")
        return "\n".join(lines) + "\n"
