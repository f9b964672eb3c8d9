"""The report as one self-contained HTML page: the same figures as `--json`, as charts and tables.

Everything the page needs is in it: Chart.js (shipped in `static/`, built by `make
report-assets`), the page's script and style are inlined, so it opens from a file, an e-mail
attachment or a ticket with nothing fetched. A Content-Security-Policy meta tag allows only
those inline scripts and that style (by their SHA-256 hashes) and nothing else: no network,
no other script, even if a name from a log got past the escaping.

Every text taken from a log (flow and target names, outcomes, reasons, unreadable-line
notes) is escaped where it is written into HTML, and travels to the charts only inside a
JSON data block (`<` `>` `&` written as JSON escapes), read with `JSON.parse`: Chart.js
draws it on a canvas, as text.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from html import escape
from importlib import resources
from typing import Any

__all__ = ["render_html"]

# One colour per outcome kind and attempt result, so a chart reads the same in every block;
# names not listed (a newer reason, a hand-written log) take the spare colours in turn.
_COLOURS = {
    "merged": "#2e7d32",
    "answered": "#2e7d32",
    "returned": "#f9a825",
    "busy": "#f9a825",
    "caller_hung_up": "#c62828",
    "no_answer": "#8d6e63",
    "declined": "#6a1b9a",
    "cold_transferred": "#1565c0",
    "hung_up": "#455a64",
    "failed": "#d84315",
    "voicemail": "#00838f",
    "unavailable": "#9e9e9e",
    "caller_id_rejected": "#ad1457",
    "dialing": "#90a4ae",
}
_SPARE = ["#5c6bc0", "#26a69a", "#ef6c00", "#7cb342", "#ec407a", "#8e24aa", "#546e7a"]
_NO_REASON = "no reason"


@cache
def _asset(name: str) -> str:
    return (resources.files("orchestrator.report") / "static" / name).read_text("utf-8")


def _hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _colours(names: list[str]) -> list[str]:
    spare = iter(_SPARE * (1 + len(names) // len(_SPARE)))
    return [_COLOURS.get(name) or next(spare) for name in names]


def _json_for_script(data: Any) -> str:
    """JSON that cannot end its <script> element nor open a comment in it."""
    text = json.dumps(data, ensure_ascii=True, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:g} s"


# Charts: plain data (labels, datasets) that the page's script hands to Chart.js as it is.


def _chart(
    title: str,
    labels: list[str],
    datasets: list[dict[str, Any]],
    *,
    unit: str,
    stacked: bool = False,
    horizontal: bool = False,
) -> dict[str, Any]:
    return {
        "title": title,
        "labels": labels,
        "datasets": datasets,
        "unit": unit,
        "stacked": stacked,
        "horizontal": horizontal,
    }


def _outcomes_chart(f: dict[str, Any]) -> dict[str, Any]:
    kinds = list(f["outcomes"])
    reasons: list[str] = []
    for outcome in f["outcomes"].values():
        reasons += [r for r in outcome["reasons"] if r not in reasons]
    unexplained = [o["count"] - sum(o["reasons"].values()) for o in f["outcomes"].values()]
    names = reasons + ([_NO_REASON] if any(unexplained) else [])
    datasets = []
    for name, colour in zip(names, _colours(names), strict=True):
        if name == _NO_REASON:  # each bar in its outcome's own colour: merged has no reason
            datasets.append(
                {"label": name, "data": unexplained, "backgroundColor": _colours(kinds)}
            )
        else:
            data = [o["reasons"].get(name, 0) for o in f["outcomes"].values()]
            datasets.append({"label": name, "data": data, "backgroundColor": colour})
    if not datasets:  # nothing finished
        datasets = [{"label": "transfers", "data": [], "backgroundColor": "#78909c"}]
    return _chart("Outcomes by reason", kinds, datasets, unit="transfers", stacked=True)


def _timing_chart(f: dict[str, Any]) -> dict[str, Any]:
    spreads = [f["time_to_supervisor_seconds"], f["hold_seconds"]]
    labels = ["time to supervisor", "hold time"]
    datasets = [
        {
            "label": p,
            "data": [s[p] for s in spreads],
            "backgroundColor": colour,
        }
        for p, colour in (("p50", "#42a5f5"), ("p95", "#1565c0"))
    ]
    return _chart("Time to supervisor and hold time", labels, datasets, unit="seconds")


def _people_chart(f: dict[str, Any]) -> dict[str, Any]:
    labels = ["merged", "callers lost on hold", "declines", "unfinished"]
    data = [f["merged"], f["callers_lost_on_hold"], f["declines"], f["unfinished"]]
    colours = [_COLOURS["merged"], _COLOURS["caller_hung_up"], _COLOURS["declined"], "#90a4ae"]
    dataset = {"label": "count", "data": data, "backgroundColor": colours}
    return _chart("Merged, lost on hold, declined", labels, [dataset], unit="count")


def _targets_chart(f: dict[str, Any]) -> dict[str, Any]:
    targets = f["targets"]
    results: list[str] = []
    for row in targets.values():
        results += [r for r in row["results"] if r not in results]
    datasets = [
        {
            "label": result,
            "data": [row["results"].get(result, 0) for row in targets.values()],
            "backgroundColor": colour,
        }
        for result, colour in zip(results, _colours(results), strict=True)
    ]
    return _chart(
        "Dials per target, by result",
        list(targets),
        datasets,
        unit="dials",
        stacked=True,
        horizontal=True,
    )


def _answer_chart(f: dict[str, Any]) -> dict[str, Any]:
    targets = f["targets"]
    datasets = [
        {
            "label": f"answer {p}",
            "data": [row["answer_seconds"][p] for row in targets.values()],
            "backgroundColor": colour,
        }
        for p, colour in (("p50", "#66bb6a"), ("p95", "#2e7d32"))
    ]
    return _chart("Time to answer per target", list(targets), datasets, unit="seconds")


def _depth_chart(f: dict[str, Any]) -> dict[str, Any]:
    distribution = f["chain_depth"]["distribution"]
    labels = [f"{n} attempt{'' if n == '1' else 's'}" for n in distribution]
    dataset = {
        "label": "transfers",
        "data": list(distribution.values()),
        "backgroundColor": "#5c6bc0",
    }
    return _chart("Chain depth: attempts per transfer", labels, [dataset], unit="transfers")


# HTML: every text from the report goes through `escape`.


def _figure(label: str, value: str, key: str) -> str:
    return (
        f'<div class="figure" data-figure="{key}"><div class="value">{escape(value)}</div>'
        f'<div class="label">{escape(label)}</div></div>'
    )


def _figures(f: dict[str, Any]) -> str:
    finished = f["finished"]
    merged = f"{f['merged']} of {finished} ({f['merged_percent']:g}%)" if finished else "-"
    tts, hold, depth = f["time_to_supervisor_seconds"], f["hold_seconds"], f["chain_depth"]
    chain = "-" if depth["max"] is None else f"mean {depth['mean']:g}, max {depth['max']}"
    cards = [
        _figure("transfers", f"{f['transfers']}", "transfers"),
        _figure(f"finished ({f['unfinished']} unfinished)", f"{finished}", "finished"),
        _figure("merged", merged, "merged"),
        _figure(
            f"time to supervisor p50 / p95 ({tts['count']} merged)",
            f"{_seconds(tts['p50'])} / {_seconds(tts['p95'])}",
            "time_to_supervisor",
        ),
        _figure(
            f"hold time p50 / p95 ({hold['count']} held)",
            f"{_seconds(hold['p50'])} / {_seconds(hold['p95'])}",
            "hold",
        ),
        _figure("callers lost on hold", f"{f['callers_lost_on_hold']}", "callers_lost_on_hold"),
        _figure("declines", f"{f['declines']}", "declines"),
        _figure("chain depth", chain, "chain_depth"),
    ]
    return f'<div class="figures">{"".join(cards)}</div>'


def _table(head: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    def cells(tag: str, values: list[str]) -> str:
        return "".join(
            f"<{tag}{' class=num' if i in numeric else ''}>{escape(v)}</{tag}>"
            for i, v in enumerate(values)
        )

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return f"<table><thead><tr>{cells('th', head)}</tr></thead><tbody>{body}</tbody></table>"


def _named(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items()) or "-"


def _outcomes_table(f: dict[str, Any]) -> str:
    if not f["outcomes"]:
        return '<p class="none">No transfer finished.</p>'
    rows = [[kind, str(o["count"]), _named(o["reasons"])] for kind, o in f["outcomes"].items()]
    return _table(["outcome", "transfers", "reasons"], rows, {1})


def _targets_table(f: dict[str, Any]) -> str:
    targets = f["targets"]
    if not targets:
        return '<p class="none">No target named in the log (no `dials` in transfer.finished).</p>'
    rows = [
        [
            name,
            str(t["dials"]),
            str(t["answered"]),
            str(t["merged"]),
            str(t["declines"]),
            _seconds(t["answer_seconds"]["p50"]),
            _seconds(t["answer_seconds"]["p95"]),
            _named(t["results"]),
        ]
        for name, t in targets.items()
    ]
    head = ["target", "dials", "answered", "merged", "declines", "answer p50", "answer p95"]
    return _table([*head, "results"], rows, {1, 2, 3, 4, 5, 6})


def _canvas(index: int, chart: dict[str, Any]) -> str:
    return (
        f'<figure class="chart"><figcaption>{escape(chart["title"])}</figcaption>'
        f'<div class="canvas"><canvas data-chart="{index}" role="img" '
        f'aria-label="{escape(chart["title"])}"></canvas></div></figure>'
    )


def _block(title: str, f: dict[str, Any], charts: list[dict[str, Any]]) -> str:
    own = [_outcomes_chart(f), _timing_chart(f), _people_chart(f), _depth_chart(f)]
    if f["targets"]:
        own += [_targets_chart(f), _answer_chart(f)]
    canvases = []
    for chart in own:
        canvases.append(_canvas(len(charts), chart))
        charts.append(chart)
    return (
        f'<section class="block"><h2>{escape(title)}</h2>{_figures(f)}'
        f'<div class="charts">{"".join(canvases)}</div>'
        f"<h3>Outcomes</h3>{_outcomes_table(f)}<h3>Targets</h3>{_targets_table(f)}</section>"
    )


def _summary(report: dict[str, Any]) -> str:
    counts = report["lines"]
    unread, shown = counts["unreadable"], len(report["unreadable_lines"])
    more = f" ({shown} shown below)" if unread > shown and shown else ""
    text = (
        f"{report['transfers']} transfer(s); {counts['read']} line(s) read: {counts['used']} "
        f"used, {counts['skipped']} skipped (other events), {unread} unreadable{more}"
    )
    items = "".join(f"<li>{escape(where)}</li>" for where in report["unreadable_lines"])
    listed = f'<ul class="unreadable">{items}</ul>' if items else ""
    return f'<p id="summary">{escape(text)}</p>{listed}'


def render_html(report: dict[str, Any]) -> str:
    """The page `orchestrator report --html FILE` writes, from `report(reading)`."""
    charts: list[dict[str, Any]] = []
    if report["transfers"]:
        flows = report["flows"]
        blocks = [] if len(flows) == 1 else [("all flows", report["all"])]
        blocks += [(f"flow {name}", figures) for name, figures in flows.items()]
        body = "".join(_block(title, figures, charts) for title, figures in blocks)
    else:
        body = (
            '<p id="no-transfers" class="none">No transfers in these logs: none of their '
            "lines is a transfer's event.</p>"
        )
    library, script, style = _asset("chart.umd.min.js"), _asset("report.js"), _asset("report.css")
    policy = (
        f"default-src 'none'; script-src {_hash(library)} {_hash(script)}; "
        f"style-src {_hash(style)}; img-src 'none'; base-uri 'none'; form-action 'none'"
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{escape(policy)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Transfer report</title>"
        f"<style>{style}</style></head>\n"
        f"<body><header><h1>Transfer report</h1>{_summary(report)}</header>\n"
        f"<main>{body}</main>\n"
        "<footer>Written by <code>orchestrator report --html</code>; every figure is defined in "
        "docs/report.md. Charts drawn by Chart.js (MIT).</footer>\n"
        '<script type="application/json" id="report-data">'
        f"{_json_for_script({'charts': charts})}</script>\n"
        f"<script>{library}</script>\n<script>{script}</script>\n"
        "</body></html>\n"
    )
