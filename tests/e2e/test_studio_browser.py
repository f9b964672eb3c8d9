"""`orchestrator studio` in a real browser (Debian's chromium, driven by chromedriver).

These tests need no LiveKit stack: they start the studio's own command on a copy of flows/
and a free port, drive the page as a designer would, and stop both processes at the end.
Screenshots go to build/studio/.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SHOTS = ROOT / "build" / "studio"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs Debian's chromium and chromium-driver (`python -m stack build` installs them)",
)

T = TypeVar("T")


class Studio:
    """`orchestrator studio DIR --port 0` as a process; its URL read from what it prints."""

    def __init__(self, folder: Path, *args: str) -> None:
        self.folder = folder
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "studio", str(folder), "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )
        assert self.process.stdout is not None
        lines = ""
        while (found := re.search(r"open http://([^/]+):(\d+)/(\S*)", lines)) is None:
            line = self.process.stdout.readline()
            if not line:
                self.stop()
                raise AssertionError(f"the studio did not print its URL: {lines!r}")
            lines += line
        self.printed = lines
        self.url = f"http://127.0.0.1:{found.group(2)}/"
        self.login = self.url + found.group(3)  # with ?token=... when not on loopback

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Ctrl-C
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[Studio]:
    folder = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", folder)
    running = Studio(folder)
    try:
        yield running
    finally:
        code = running.stop()
    assert code == 0, "Ctrl-C stops the studio cleanly"


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1600,1000"):
        options.add_argument(flag)
    options.add_argument("--disable-dev-shm-usage")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(DRIVER)))
    try:
        yield driver
    finally:
        driver.quit()  # chromedriver and every chromium process it started


def _until(what: Callable[[], T | None], message: str, timeout: float = 20.0) -> T:
    """Poll the page until `what` returns something truthy (the page updates on its own)."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        try:
            last = what()
        except Exception:  # the element is being re-drawn; ask again
            last = None
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{message} (last seen: {last!r})")


def _shot(driver: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def _js(driver: Any, script: str) -> Any:
    return driver.execute_script(script)


def _problems(driver: Any) -> list[str]:
    result: list[str] = _js(
        driver, "return [...document.querySelectorAll('#problems li')].map(li => li.textContent)"
    )
    return result


def _diagram_text(driver: Any) -> str:
    text: str = _js(
        driver,
        "const svg = document.querySelector('#diagram svg');"
        "if (!svg || document.querySelector('#diagram.stale')) return '';"
        "const copy = svg.cloneNode(true);"
        "for (const style of copy.querySelectorAll('style')) style.remove();"
        "return copy.textContent;",
    )
    return text


def _editor_text(driver: Any) -> str:
    text: str = _js(
        driver,
        "return [...document.querySelectorAll('.cm-content .cm-line')]"
        ".map(l => l.textContent).join('\\n')",
    )
    return text


def _line_number(text: str, line: str) -> int:
    return text.splitlines().index(line) + 1


def _type_at_end_of(driver: Any, line: str, keys: list[str]) -> None:
    """Click the editor's line that reads `line`, go to its end and type."""
    from selenium.webdriver.common.keys import Keys

    target = _until(
        lambda: _js(
            driver,
            "return [...document.querySelectorAll('.cm-content .cm-line')]"
            f".find(l => l.textContent === {json.dumps(line)}) || null",
        ),
        f"the editor shows the line {line!r}",
    )
    target.click()
    # End twice: to the end of a wrapped line, not of its first visual row.
    target.parent.switch_to.active_element.send_keys(Keys.END, Keys.END, *keys)


def _open(driver: Any, studio: Studio, name: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(studio.url)
    button = _until(
        lambda: driver.find_element(By.CSS_SELECTOR, f'#flows button[data-path="{name}"]'),
        f"the flow list shows {name}",
    )
    button.click()
    _until(lambda: _diagram_text(driver).strip(), "the diagram is drawn")


def test_designer_edits_sees_problems_and_diagram_saves_and_reloads(
    studio: Studio, browser: Any
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    on_disk = (studio.folder / "warm_transfer.yaml").read_text()
    _open(browser, studio, "warm_transfer.yaml")
    listed = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#flows button")]
    assert listed == [
        "after_hours.yaml",
        "cold_transfer.yaml",
        "ring_group.yaml",
        "supervisor_chain.yaml",
        "warm_transfer.yaml",
    ]
    assert _editor_text(browser) == on_disk
    assert "on_call_supervisor" in _diagram_text(browser)
    assert _problems(browser) == ["No problems."]
    _shot(browser, "01-opened")

    # A mistake: the target renamed, the step that dials it not yet.
    _type_at_end_of(browser, "  on_call_supervisor:", [Keys.BACKSPACE, "_night:"])
    line = _line_number(on_disk, "    to: [on_call_supervisor]")
    problems = _until(
        lambda: [p for p in _problems(browser) if p.startswith(f"{line}:")],
        f"a problem at line {line}, where `to: [on_call_supervisor]` names no target now",
    )
    assert "on_call_supervisor" in problems[0]
    marked = _js(
        browser,
        "return [...document.querySelectorAll('.cm-line')]"
        ".filter(l => l.querySelector('.cm-lintRange-error')).map(l => l.textContent)",
    )
    assert marked == ["    to: [on_call_supervisor]"], "the editor marks the problem at its line"
    assert browser.find_element(By.CSS_SELECTOR, "#save").is_enabled()
    browser.find_element(By.CSS_SELECTOR, "#problems button").click()  # go to the line
    _until(
        lambda: (
            _js(browser, "return document.querySelector('.cm-activeLine').textContent")
            == "    to: [on_call_supervisor]"
        ),
        "clicking the problem puts the cursor on its line",
    )
    _shot(browser, "02-problem-at-its-line")

    # The fix: the diagram is drawn again, with the new name.
    _type_at_end_of(browser, "    to: [on_call_supervisor]", [Keys.LEFT, "_night"])
    _until(lambda: _problems(browser) == ["No problems."], "the problems are gone")
    drawn = _until(
        lambda: (t := _diagram_text(browser)) and "on_call_supervisor_night" in t and t,
        "the diagram names the renamed target",
    )
    assert re.search(r"on_call_supervisor(?!_night)", drawn) is None
    _shot(browser, "03-diagram-redrawn")

    # Text that looks like HTML is shown as text, never run: in the editor and the diagram.
    scripts_before = _js(browser, "return document.scripts.length")
    said = "<script>window.pwned = 1</script> Hold on."
    _type_at_end_of(
        browser, "    say: Please hold for a moment while I connect you with a supervisor.", []
    )
    select_line = ActionChains(browser).key_down(Keys.SHIFT).send_keys(Keys.HOME, Keys.HOME)
    select_line.key_up(Keys.SHIFT).send_keys(f"say: {said}").perform()
    assert f"    say: {said}\n" in _editor_text(browser)
    _until(lambda: _problems(browser) == ["No problems."], "still valid")
    shown = _until(
        lambda: (t := _diagram_text(browser)) and "window.pwned" in t and t,
        "the diagram shows what the caller hears, as typed",
    )
    assert "<script>window.pwned = 1</script>" in shown
    assert "on_call_supervisor_night" in shown
    assert _js(browser, "return window.pwned === undefined")
    assert _js(browser, "return document.scripts.length") == scripts_before
    assert _js(browser, "return document.querySelectorAll('#diagram script').length") == 0

    # Save: the file on disk is the editor's text.
    browser.find_element(By.CSS_SELECTOR, "#save").click()
    _until(lambda: browser.find_element(By.ID, "status").text == "saved", "saved")
    saved = (studio.folder / "warm_transfer.yaml").read_text()
    assert "  on_call_supervisor_night:\n" in saved
    assert f"say: {said}" in saved
    assert _editor_text(browser) == saved

    # Someone else changes the file: saving says so, keeps the edit, and can overwrite.
    theirs = saved + "# a colleague's edit\n"
    (studio.folder / "warm_transfer.yaml").write_text(theirs)
    _type_at_end_of(browser, "max_hold: 120", [Keys.BACKSPACE * 3, "90"])
    browser.find_element(By.CSS_SELECTOR, "#save").click()
    banner = _until(
        lambda: (b := browser.find_element(By.ID, "banner")).is_displayed() and b,
        "the page tells the designer the file changed on disk",
    )
    assert "changed on disk" in banner.text
    assert "max_hold: 90" in _editor_text(browser)
    assert (studio.folder / "warm_transfer.yaml").read_text() == theirs
    _shot(browser, "04-conflict")
    overwrite = next(
        b for b in banner.find_elements(By.TAG_NAME, "button") if b.text.startswith("Overwrite")
    )
    overwrite.click()
    _until(lambda: browser.find_element(By.ID, "status").text == "saved", "overwritten")
    mine = (studio.folder / "warm_transfer.yaml").read_text()
    assert "max_hold: 90" in mine
    assert "a colleague's edit" not in mine

    # Reload the page: the edit is there.
    browser.refresh()
    _open(browser, studio, "warm_transfer.yaml")
    assert _editor_text(browser) == mine
    assert "on_call_supervisor_night" in _diagram_text(browser)
    assert not browser.find_element(By.ID, "banner").is_displayed()
    _shot(browser, "05-reloaded")


def test_an_unsaved_edit_survives_a_reload(studio: Studio, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    _open(browser, studio, "cold_transfer.yaml")
    first = _editor_text(browser).splitlines()[0]
    _type_at_end_of(browser, first, [" draft"])
    _until(lambda: browser.find_element(By.ID, "status").text == "unsaved changes", "dirty")
    browser.execute_script("location.reload()")  # a reload, or a tab closed by mistake
    with contextlib.suppress(Exception):  # "leave the page?": yes
        browser.switch_to.alert.accept()
    button = _until(
        lambda: browser.find_element(
            By.CSS_SELECTOR, "#flows button[data-path='cold_transfer.yaml']"
        ),
        "the flow list",
    )
    assert "draft" in (button.get_attribute("class") or "")
    button.click()
    restore = _until(
        lambda: next(
            b
            for b in browser.find_elements(By.CSS_SELECTOR, "#banner button")
            if b.text.startswith("Restore")
        ),
        "the page offers the unsaved edit back",
    )
    restore.click()
    assert f"{first} draft" in _editor_text(browser)


def test_designer_runs_the_scenarios_and_reads_a_timeline(studio: Studio, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    _open(browser, studio, "warm_transfer.yaml")
    items = _until(
        lambda: browser.find_elements(By.CSS_SELECTOR, "#scenarios li"),
        "the flow's scenarios are listed",
    )
    count = len(items)
    run = browser.find_element(By.ID, "run")
    _until(run.is_enabled, "Run is enabled")
    run.click()
    badges = _until(
        lambda: (
            (b := [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#scenarios .badge")])
            and all(x in ("PASS", "FAIL") for x in b)
            and b
        ),
        "every scenario shows PASS or FAIL",
        timeout=120,
    )
    assert badges == ["PASS"] * count, "the shipped flow passes its shipped scenarios"
    browser.find_element(By.CSS_SELECTOR, "#scenarios li button").click()
    timeline = _until(
        lambda: (t := browser.find_element(By.ID, "timeline").text) and t != "Running…" and t,
        "the scenario's timeline is shown",
    )
    assert len(timeline.splitlines()) >= 3
    _shot(browser, "06-scenarios-and-timeline")


def test_a_save_that_cannot_reach_the_studio_keeps_the_edit(studio: Studio, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    _open(browser, studio, "cold_transfer.yaml")
    first = _editor_text(browser).splitlines()[0]
    _type_at_end_of(browser, first, [" mine"])
    assert studio.stop() == 0  # the terminal closed, say
    browser.find_element(By.ID, "save").click()
    banner = _until(
        lambda: (b := browser.find_element(By.ID, "banner")).is_displayed() and b.text,
        "the page says the flow was not saved",
    )
    assert banner.startswith("Not saved: the studio is not reachable")
    assert f"{first} mine" in _editor_text(browser)
    assert browser.find_element(By.ID, "status").text == "unsaved changes"


@pytest.fixture
def remote_studio(tmp_path: Path) -> Iterator[Studio]:
    folder = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", folder)
    running = Studio(folder, "--host", "0.0.0.0", "--allow-remote")
    try:
        yield running
    finally:
        code = running.stop()
    assert code == 0


def test_a_remote_studio_opens_with_its_token_only(remote_studio: Studio, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    assert "WARNING" in remote_studio.printed
    assert "?token=" in remote_studio.login
    browser.get(remote_studio.url)  # without the token
    assert "needs its token" in browser.find_element(By.TAG_NAME, "body").text
    assert not browser.find_elements(By.ID, "flows")
    browser.get(remote_studio.login)  # the printed URL: the token becomes a cookie
    _until(lambda: "?token=" not in browser.current_url, "the token leaves the address bar")
    _open(browser, remote_studio, "warm_transfer.yaml")
    assert "on_call_supervisor" in _diagram_text(browser)
    cookie = browser.get_cookie("studio_token")
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert _js(browser, "return document.cookie") == ""  # the page's scripts cannot read it
