"""`orchestrator report`: call-centre figures from the library's JSON log lines.

`reading.py` turns log lines into one record per transfer (and counts the lines it could
not use); `figures.py` aggregates records into plain data (pure); `render.py` prints it;
`html.py` writes it as a self-contained page with charts.
"""

from __future__ import annotations

from orchestrator.report.figures import figures, percentile, report
from orchestrator.report.html import render_html
from orchestrator.report.reading import Reading, Record, read_lines
from orchestrator.report.render import render_text

__all__ = [
    "Reading",
    "Record",
    "figures",
    "percentile",
    "read_lines",
    "render_html",
    "render_text",
    "report",
]
