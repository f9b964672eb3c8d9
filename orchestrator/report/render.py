"""The report as text for people: the same figures as `--json`, one block per flow."""

from __future__ import annotations

from typing import Any

__all__ = ["render_text"]

_LABEL = 22


def render_text(report: dict[str, Any]) -> str:
    """The report `orchestrator report` prints (without `--json`)."""
    lines = [_summary(report)]
    lines += [f"  unreadable: {where}" for where in report["unreadable_lines"]]
    if not report["transfers"]:
        lines.append("No transfers in these logs: none of their lines is a transfer's event.")
        return "\n".join(lines) + "\n"
    flows = report["flows"]
    blocks = [] if len(flows) == 1 else [("all flows", report["all"])]
    blocks += [(f"flow {name}", figures) for name, figures in flows.items()]
    for title, figures in blocks:
        lines += ["", title, *_block(figures)]
    return "\n".join(lines) + "\n"


def _summary(report: dict[str, Any]) -> str:
    counts = report["lines"]
    unread = counts["unreadable"]
    more = len(report["unreadable_lines"])
    shown = f" ({more} shown)" if unread > more else ""
    return (
        f"{report['transfers']} transfer(s); {counts['read']} line(s) read: {counts['used']} "
        f"used, {counts['skipped']} skipped (other events), {unread} unreadable{shown}"
    )


def _row(label: str, text: str) -> str:
    return f"  {label:<{_LABEL}} {text}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:g} s"


def _spread(spread: dict[str, Any], of: str) -> str:
    if not spread["count"]:
        return f"none ({of})"
    return f"p50 {_seconds(spread['p50'])}, p95 {_seconds(spread['p95'])} ({spread['count']} {of})"


def _named(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items())


def _block(f: dict[str, Any]) -> list[str]:
    finished = f["finished"]
    outcomes = "; ".join(
        f"{kind} {o['count']}" + (f" ({_named(o['reasons'])})" if o["reasons"] else "")
        for kind, o in f["outcomes"].items()
    )
    merged = f"{f['merged']} of {finished} finished ({f['merged_percent']}%)" if finished else "-"
    depth = f["chain_depth"]
    chain = "-"
    if depth["max"] is not None:
        spread = ", ".join(
            f"{n} attempt{'' if n == '1' else 's'}: {times}"
            for n, times in depth["distribution"].items()
        )
        chain = f"mean {depth['mean']:g}, max {depth['max']} ({spread})"
    ended = f["merged_calls_ended"]
    rows = [
        _row(
            "transfers",
            f"{f['transfers']} ({finished} finished, {f['unfinished']} unfinished)",
        ),
        _row("merged", merged),
        _row("outcomes", outcomes or "-"),
        _row("time to supervisor", _spread(f["time_to_supervisor_seconds"], "merged")),
        _row("hold time", _spread(f["hold_seconds"], "held")),
        _row("callers lost on hold", str(f["callers_lost_on_hold"])),
        _row("declines", str(f["declines"])),
        _row("chain depth", chain),
    ]
    if ended:
        rows.append(
            _row("merged calls ended", _named({f"{k} first": n for k, n in ended.items()}))
        )
    rows += _targets(f["targets"])
    return rows


def _targets(targets: dict[str, dict[str, Any]]) -> list[str]:
    if not targets:
        return [_row("targets", "none named in the log (no `dials` in transfer.finished)")]
    width = max(_LABEL - 2, *(len(name) for name in targets))
    head = (
        f"    {'target':<{width}} {'dials':>5} {'answered':>8} {'merged':>6} "
        f"{'declines':>8} {'answer p50':>10} {'answer p95':>10}  results"
    )
    rows = ["  targets", head]
    for name, t in targets.items():
        answer = t["answer_seconds"]
        rows.append(
            f"    {name:<{width}} {t['dials']:>5} {t['answered']:>8} {t['merged']:>6} "
            f"{t['declines']:>8} {_seconds(answer['p50']):>10} {_seconds(answer['p95']):>10}  "
            f"{_named(t['results'])}"
        )
    return rows
