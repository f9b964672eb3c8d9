"""`orchestrator report --html` in a real browser (Debian's chromium, driven by chromedriver).

No LiveKit stack: the command writes a page from a log of known transfers, chromium opens it
from a file:// URL, as someone opening an attachment would. The charts must draw (Chart.js
inlined, allowed by the page's Content-Security-Policy), the figures must read as the log
says, and a name from the log that looks like HTML must show as text and run nothing.
Screenshots go to build/report/.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_studio_browser import (
    CHROMIUM,
    DRIVER,
    _until,
    browser as browser,  # the studio's chromium fixture
)

ROOT = Path(__file__).resolve().parent.parent.parent
SHOTS = ROOT / "build" / "report"
HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs Debian's chromium and chromium-driver (`python -m stack build` installs them)",
)

# Run before the page's own scripts, whatever its policy: what the policy refused, what threw.
WATCH = """
window.__refused = [];
window.__errors = [];
document.addEventListener("securitypolicyviolation",
    (e) => window.__refused.push(e.violatedDirective + " " + e.blockedURI));
window.addEventListener("error", (e) => window.__errors.push(String(e.message)));
"""


def _line(transfer: str, flow: str, event: str, **fields: Any) -> str:
    return json.dumps({"event": event, "transfer_id": transfer, "flow": flow, **fields})


def _finished(transfer: str, flow: str, outcome: str, **fields: Any) -> list[str]:
    dials = fields.pop("dials", [])
    return [
        _line(transfer, flow, "transfer.started"),
        *(_line(transfer, flow, "dial.request") for _ in dials),
        _line(
            transfer,
            flow,
            "transfer.finished",
            outcome=outcome,
            attempts=len(dials),
            dials=dials,
            **fields,
        ),
    ]


def _dial(target: str, result: str, seconds: float) -> dict[str, Any]:
    return {"target": target, "result": result, "seconds": seconds, "caller_id": "caller"}


def _log() -> list[str]:
    """Four transfers of `warm_transfer` (two merged after 4 s and 6 s), one of a flow named
    like an attack whose caller hung up on hold, and a line that is not JSON."""
    sup = "on_call_supervisor"
    lines = [
        *_finished(
            "t1",
            "warm_transfer",
            "merged",
            reason=None,
            hold_seconds=4.0,
            time_to_supervisor_seconds=4.0,
            dials=[_dial(sup, "answered", 2.0)],
        ),
        *_finished(
            "t2",
            "warm_transfer",
            "merged",
            reason=None,
            hold_seconds=6.0,
            time_to_supervisor_seconds=6.0,
            dials=[_dial(sup, "answered", 3.0)],
        ),
        *_finished(
            "t3",
            "warm_transfer",
            "returned",
            reason="busy",
            hold_seconds=1.0,
            dials=[_dial(sup, "busy", 0.5)],
        ),
        *_finished(
            "t4",
            "warm_transfer",
            "returned",
            reason="no_answer",
            hold_seconds=20.0,
            dials=[_dial(sup, "no_answer", 20.0)],
        ),
        *_finished(
            "t5",
            HOSTILE,
            "caller_hung_up",
            reason=None,
            hold_seconds=9.0,
            dials=[_dial(f"<b>{HOSTILE}</b>", "dialing", 9.0)],
        ),
        "this line is not JSON",
    ]
    return lines


def _write_page(tmp_path: Path, lines: list[str]) -> Path:
    log, page = tmp_path / "worker.log", tmp_path / "report.html"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "report", str(log), "--html", str(page)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return page


def _open(driver: Any, page: Path) -> None:
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH})
    driver.get(page.as_uri())


def _shot(driver: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1600, min(max(height, 600), 8000))  # the whole page in one shot
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def _figure(driver: Any, block: int, key: str) -> str:
    text: str = driver.execute_script(
        "return document.querySelectorAll('section.block')[arguments[0]]"
        ".querySelector(`[data-figure='${arguments[1]}'] .value`).textContent",
        block,
        key,
    )
    return text


def test_the_page_draws_its_charts_and_shows_the_figures_of_the_log(
    tmp_path: Path, browser: Any
) -> None:
    page = _write_page(tmp_path, _log())
    _open(browser, page)
    _until(
        lambda: browser.execute_script("return document.body.dataset.charts === 'drawn'"),
        "the page's script drew its charts",
    )
    sizes = browser.execute_script(
        "return [...document.querySelectorAll('canvas[data-chart]')]"
        ".map(c => [c.getBoundingClientRect().width, c.getBoundingClientRect().height,"
        " !!Chart.getChart(c)])"
    )
    # all flows, warm_transfer, the hostile one: four charts each and two per-target ones
    assert len(sizes) == 3 * 6
    assert all(w > 0 and h > 0 and drawn for w, h, drawn in sizes), sizes

    # Blocks: "all flows", then each flow by name ('<' sorts before 'w').
    titles = browser.execute_script(
        "return [...document.querySelectorAll('section.block h2')].map(h => h.textContent)"
    )
    assert titles == ["all flows", f"flow {HOSTILE}", "flow warm_transfer"]
    warm = 2
    assert _figure(browser, warm, "transfers") == "4"
    assert _figure(browser, warm, "merged") == "2 of 4 (50%)"
    assert _figure(browser, warm, "time_to_supervisor") == "4 s / 6 s"
    assert _figure(browser, warm, "hold") == "4 s / 20 s"
    assert _figure(browser, 0, "callers_lost_on_hold") == "1"
    assert _figure(browser, 0, "merged") == "2 of 5 (40%)"

    # The charts hold the same numbers: outcomes by reason, and p50/p95 in seconds.
    charts = browser.execute_script(
        "const block = document.querySelectorAll('section.block')[arguments[0]];"
        "return [...block.querySelectorAll('canvas[data-chart]')].map(c => {"
        " const chart = Chart.getChart(c);"
        " return {title: c.getAttribute('aria-label'), labels: chart.data.labels,"
        "  data: Object.fromEntries(chart.data.datasets.map(d => [d.label, d.data]))};});",
        warm,
    )
    by_title = {chart["title"]: chart for chart in charts}
    outcomes = by_title["Outcomes by reason"]
    assert outcomes["labels"] == ["merged", "returned"]
    assert outcomes["data"] == {"busy": [0, 1], "no_answer": [0, 1], "no reason": [2, 0]}
    timing = by_title["Time to supervisor and hold time"]
    assert timing["data"] == {"p50": [4, 4], "p95": [6, 20]}
    answer = by_title["Time to answer per target"]
    assert answer["labels"] == ["on_call_supervisor"]
    assert answer["data"] == {"answer p50": [2], "answer p95": [3]}

    # The unreadable line is counted and named, never quoted.
    summary = browser.execute_script("return document.getElementById('summary').textContent")
    assert summary.startswith("5 transfer(s);")
    assert summary.endswith("1 unreadable")
    assert browser.execute_script(
        "return [...document.querySelectorAll('.unreadable li')].map(li => li.textContent)"
    ) == [f"{tmp_path / 'worker.log'}:{len(_log())}: not JSON"]

    # The hostile names are text: in the heading, the target table and the chart's labels.
    assert browser.execute_script("return window.pwned === undefined")
    assert browser.execute_script("return document.scripts.length") == 3  # data, Chart.js, page
    assert browser.execute_script("return document.images.length") == 0
    targets = browser.execute_script(
        "return document.querySelectorAll('section.block')[1]"
        ".querySelector('table:last-of-type tbody td').textContent"
    )
    assert targets == f"<b>{HOSTILE}</b>"
    hostile_chart = browser.execute_script(
        "const c = document.querySelectorAll('section.block')[1]"
        ".querySelectorAll('canvas[data-chart]')[4];"
        "return Chart.getChart(c).data.labels"
    )
    assert hostile_chart == [f"<b>{HOSTILE}</b>"]
    assert browser.execute_script("return window.__refused") == []
    assert browser.execute_script("return window.__errors") == []
    _shot(browser, "01-report")


def test_a_log_with_no_transfer_says_so(tmp_path: Path, browser: Any) -> None:
    page = _write_page(tmp_path, [json.dumps({"event": "livekit.request"}), "{"])
    _open(browser, page)
    _until(
        lambda: browser.execute_script("return document.body.dataset.charts === 'drawn'"),
        "the page's script ran",
    )
    said = browser.execute_script("return document.getElementById('no-transfers').textContent")
    assert said.startswith("No transfers in these logs")
    assert browser.execute_script("return document.querySelectorAll('canvas').length") == 0
    summary = browser.execute_script("return document.getElementById('summary').textContent")
    assert (
        summary == "0 transfer(s); 2 line(s) read: 0 used, 1 skipped (other events), 1 unreadable"
    )
    assert browser.execute_script("return window.__refused") == []
    assert browser.execute_script("return window.__errors") == []
    _shot(browser, "02-no-transfers")
