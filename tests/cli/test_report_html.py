"""`orchestrator report --html`: the page's markup, read back with an HTML parser.

What a browser does with it (the charts drawn, the policy applied) is
tests/e2e/test_report_browser.py; here: every text from a log is escaped, the page loads
nothing from anywhere, its policy allows exactly its own inline scripts, an empty log says so.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.report import read_lines, render_html, report

runner = CliRunner()
HOSTILE = "</script><script>alert(1)</script><img src=x onerror=alert(2)>&amp;\"'"


class Page(HTMLParser):
    """Every start tag with its attributes, and the text of each <script> and <style>."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.styles: list[str] = []
        self.text: list[str] = []
        self._open: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self.scripts.append((dict(attrs), ""))
        self._open = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._open = None

    def handle_data(self, data: str) -> None:
        if self._open == "script":
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)
        elif self._open == "style":
            self.styles.append(data)
        else:
            self.text.append(data)

    def of(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def _line(transfer: str, flow: str, event: str, **fields: Any) -> str:
    return json.dumps({"event": event, "transfer_id": transfer, "flow": flow, **fields})


def _log(flow: str = HOSTILE, target: str = HOSTILE, reason: str = HOSTILE) -> bytes:
    dials = [{"target": target, "result": "busy", "seconds": 1.0}]
    lines = [
        _line("t1", flow, "transfer.started"),
        _line("t1", flow, "dial.request"),
        _line(
            "t1",
            flow,
            "transfer.finished",
            outcome="returned",
            reason=reason,
            hold_seconds=2.0,
            attempts=1,
            dials=dials,
        ),
        _line("t2", "warm_transfer", "transfer.started"),
        _line(
            "t2",
            "warm_transfer",
            "transfer.finished",
            outcome="merged",
            hold_seconds=5.0,
            time_to_supervisor_seconds=5.0,
            attempts=0,
        ),
    ]
    return ("\n".join(lines) + "\n").encode()


def _page(log: bytes) -> str:
    return render_html(report(read_lines([("log", BytesIO(log))])))


def _data(page: Page) -> Any:
    blocks = [text for attrs, text in page.scripts if attrs.get("type") == "application/json"]
    assert len(blocks) == 1
    return json.loads(blocks[0])


def test_names_from_the_log_are_text_never_markup() -> None:
    """A flow, a target and a reason named with markup: the page has only its own three
    scripts and no image; the names read back as the same text in headings, tables and
    the charts' data."""
    html = _page(_log())
    page = Page(html)
    assert len(page.scripts) == 3, "the data block, Chart.js, the page's script"
    assert page.of("img") == []
    assert "alert(1)" not in "".join(text for _, text in page.scripts[1:])
    shown = "".join(page.text)
    assert f"flow {HOSTILE}" in shown
    assert shown.count(HOSTILE) >= 3  # the heading, the target's row, the reason
    assert "</script><script>" not in html
    charts = _data(page)["charts"]
    labels = [label for chart in charts for label in chart["labels"]]
    assert HOSTILE in labels, "the target, as a chart label: data for a canvas"
    reasons = [d["label"] for chart in charts for d in chart["datasets"]]
    assert HOSTILE in reasons


def test_attribute_values_cannot_be_broken_out_of() -> None:
    """Every attribute the page writes is one the page chose: no name from the log becomes an
    attribute, an event handler or a URL."""
    page = Page(_page(_log()))
    for _, attrs in page.tags:
        assert not any(name.startswith("on") for name in attrs)
        assert "src" not in attrs
        assert "href" not in attrs


def test_the_page_is_self_contained_and_its_policy_allows_only_its_own_scripts() -> None:
    html = _page(_log("warm_transfer", "primary", "busy"))
    page = Page(html)
    assert page.of("link") == []
    assert page.of("iframe") == []
    assert page.of("object") == []
    assert all("src" not in attrs for attrs in page.of("script"))
    assert re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html) is None
    (meta,) = [m for m in page.of("meta") if m.get("http-equiv") == "Content-Security-Policy"]
    policy = {part.split()[0]: part.split()[1:] for part in (meta["content"] or "").split("; ")}
    assert policy["default-src"] == ["'none'"]

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    code = [text for attrs, text in page.scripts if "type" not in attrs]
    assert len(code) == 2
    assert policy["script-src"] == [digest(text) for text in code]
    assert policy["style-src"] == [digest(text) for text in page.styles]
    assert "Chart.js v4" in code[0], "the library is inlined, not referenced"
    assert "'unsafe-inline'" not in meta["content"]
    assert "http" not in (meta["content"] or "")


def test_a_log_with_no_transfer_says_so_and_draws_nothing() -> None:
    html = _page(b'{"event": "livekit.request"}\nnot json\n')
    page = Page(html)
    shown = " ".join(page.text)
    assert "No transfers in these logs" in shown
    assert "0 transfer(s); 2 line(s) read: 0 used, 1 skipped (other events), 1 unreadable" in shown
    assert page.of("canvas") == []
    assert _data(page) == {"charts": []}


def test_unreadable_lines_are_counted_and_named() -> None:
    log = _log("warm_transfer", "primary", "busy") + b"\xff\xfe garbage\n[1]\n" * 4
    page = Page(_page(log))
    shown = "".join(page.text)
    assert "8 unreadable (5 shown below)" in shown
    assert "log:6: not JSON" in shown
    assert "log:7: not a JSON object" in shown


def test_the_figures_are_on_the_page_as_text() -> None:
    page = Page(_page(_log("warm_transfer", "primary", "busy")))
    shown = "".join(page.text)
    assert "1 of 2 (50%)" in shown  # merged, in the one flow's block
    assert "2 s / 5 s" in shown  # hold p50 / p95
    assert "5 s / 5 s" in shown  # time to supervisor
    (outcomes,) = [c for c in _data(page)["charts"] if c["title"] == "Outcomes by reason"]
    assert outcomes["labels"] == ["merged", "returned"]
    assert {d["label"]: d["data"] for d in outcomes["datasets"]} == {
        "busy": [0, 1],
        "no reason": [1, 0],
    }


class TestCommand:
    def test_html_writes_the_page_and_still_prints_the_report(self, tmp_path: Path) -> None:
        log, out = tmp_path / "worker.log", tmp_path / "report.html"
        log.write_bytes(_log())
        result = runner.invoke(app, ["report", str(log), "--json", "--html", str(out)])
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["transfers"] == 2
        assert result.stderr == f"report: wrote {out} (2 transfer(s))\n"
        assert Page(out.read_text(encoding="utf-8")).of("canvas")

    @pytest.mark.parametrize("where", ["missing/report.html", "."])
    def test_a_page_that_cannot_be_written_is_a_message(self, tmp_path: Path, where: str) -> None:
        log = tmp_path / "worker.log"
        log.write_bytes(_log())
        target = tmp_path / where
        result = runner.invoke(app, ["report", str(log), "--html", str(target)])
        assert result.exit_code == 2
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert str(target) in result.stderr or "--html" in result.stderr

    def test_garbage_logs_give_a_page_not_a_traceback(self, tmp_path: Path) -> None:
        log, out = tmp_path / "garbage.log", tmp_path / "report.html"
        log.write_bytes(b"\x00\xff" * 500 + b"\n" + b"[" * 100_000 + b"\n{}\n")
        result = runner.invoke(app, ["report", str(log), "--html", str(out)])
        assert result.exit_code == 0, result.stderr
        shown = "".join(Page(out.read_text(encoding="utf-8")).text)
        assert "2 unreadable" in shown
        assert "No transfers in these logs" in shown
