"""The call-centre figures: pure aggregation of transfer records into plain, JSON-ready data.

`figures(records)` gives one flow's (or every flow's) figures; `report(reading)` the whole
report, the object `orchestrator report --json` prints and the text view renders. Every
figure is defined in docs/report.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from orchestrator.report.reading import Dialled, Reading, Record

__all__ = ["figures", "percentile", "report"]

UNKNOWN_FLOW = "(unknown)"


def percentile(values: Sequence[float], p: int) -> float | None:
    """The nearest-rank percentile: the smallest value with at least `p`% of the values at
    or below it (the ceil(p/100 * n)-th of the n sorted values); None when there are none.

    It is always one of the values, never an interpolation: `[1, 2, 3, 4]` has p50 2.
    """
    if not 0 < p <= 100:
        raise ValueError(f"percentile: p must be in (0, 100], not {p}")
    if not values:
        return None
    ordered = sorted(values)
    rank = -(-p * len(ordered) // 100)  # ceil in integers: no float rounding at the edges
    return ordered[rank - 1]


def _spread(values: Sequence[float]) -> dict[str, Any]:
    return {"count": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95)}


def _counts(counter: Counter[str]) -> dict[str, int]:
    """Most frequent first, then by name: the same order every run."""
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def _declines(record: Record) -> tuple[int, list[str]]:
    """How many times a supervisor declined in this transfer, and who (by target name).

    A phone that refused the call (the attempt's result `declined`, SIP 603) is one; so is
    a `declined` transition after an answered attempt (the supervisor declined the brief).
    The k-th `dial.request` line is the k-th of `dials`; when the counts differ (lines
    lost, a log without `dials`) the `declined` transitions are counted, unattributed.
    """
    dials = record.finish.dials if record.finish is not None else None
    refused = [d.target for d in dials or () if d.result == "declined"]
    if dials is None or len(dials) != record.dial_requests:
        return max(len(record.declines_after), len(refused)), refused
    briefs = [
        dials[at].target
        for at in record.declines_after
        if 0 <= at < len(dials) and dials[at].result == "answered"
    ]
    return len(refused) + len(briefs), refused + briefs


def _merged_target(dials: Sequence[Dialled]) -> str | None:
    answered = [d.target for d in dials if d.result == "answered"]
    return answered[-1] if answered else None


def _targets(records: Sequence[Record]) -> dict[str, dict[str, Any]]:
    dialled: dict[str, list[Dialled]] = {}
    merged: Counter[str] = Counter()
    declined: Counter[str] = Counter()
    for record in records:
        if record.finish is None or record.finish.dials is None:
            continue
        for dial in record.finish.dials:
            dialled.setdefault(dial.target, []).append(dial)
        if record.finish.outcome == "merged":
            target = _merged_target(record.finish.dials)
            if target is not None:
                merged[target] += 1
        declined.update(_declines(record)[1])
    rows: dict[str, dict[str, Any]] = {}
    for name in sorted(dialled):
        dials = dialled[name]
        answered = [d for d in dials if d.result == "answered"]
        rows[name] = {
            "dials": len(dials),
            "answered": len(answered),
            "merged": merged[name],
            "declines": declined[name],
            "results": _counts(Counter(d.result for d in dials)),
            "answer_seconds": _spread([d.seconds for d in answered if d.seconds is not None]),
        }
    return rows


def figures(records: Iterable[Record]) -> dict[str, Any]:
    """The figures of these transfers (one flow's, or all of them)."""
    records = list(records)
    done = [r.finish for r in records if r.finish is not None]
    reasons: dict[str, Counter[str]] = {}
    for finish in done:
        counter = reasons.setdefault(finish.outcome, Counter())
        if finish.reason is not None:
            counter[finish.reason] += 1
    kinds = Counter(f.outcome for f in done)
    merged = kinds["merged"]
    depths = [f.attempts if f.attempts is not None else len(f.dials or ()) for f in done]
    depth = Counter(depths)
    ended = Counter(first for r in records for first in r.call_ended)
    return {
        "transfers": len(records),
        "finished": len(done),
        "unfinished": len(records) - len(done),
        "merged": merged,
        "merged_percent": round(100 * merged / len(done), 1) if done else None,
        "outcomes": {
            kind: {"count": count, "reasons": _counts(reasons[kind])}
            for kind, count in _counts(kinds).items()
        },
        "time_to_supervisor_seconds": _spread(
            [
                f.time_to_supervisor_seconds
                for f in done
                if f.time_to_supervisor_seconds is not None
            ]
        ),
        "hold_seconds": _spread([held for f in done if (held := f.hold_seconds or 0.0) > 0]),
        "callers_lost_on_hold": sum(
            1 for f in done if f.outcome == "caller_hung_up" and (f.hold_seconds or 0) > 0
        ),
        "declines": sum(_declines(r)[0] for r in records),
        "chain_depth": {
            "mean": round(sum(depths) / len(depths), 2) if depths else None,
            "max": max(depths) if depths else None,
            "distribution": {str(n): depth[n] for n in sorted(depth)},
        },
        "merged_calls_ended": _counts(ended),
        "targets": _targets(records),
    }


def report(reading: Reading) -> dict[str, Any]:
    """The whole report: the line counts, every flow's figures and all flows' together."""
    by_flow: dict[str, list[Record]] = {}
    for record in reading.records.values():
        by_flow.setdefault(record.flow or UNKNOWN_FLOW, []).append(record)
    return {
        "lines": {
            "read": reading.lines,
            "used": reading.used,
            "skipped": reading.skipped,
            "unreadable": reading.unreadable,
        },
        "unreadable_lines": [problem.render() for problem in reading.problems],
        "transfers": len(reading.records),
        "all": figures(reading.records.values()),
        "flows": {name: figures(by_flow[name]) for name in sorted(by_flow)},
    }
