"""`orchestrator studio`: its arguments, and the server it starts and Ctrl-C stops.

The served tests start the real command in a process and always stop it (deadlines, no
sleeps: they wait on the process's own output).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from typer.testing import CliRunner

from orchestrator.cli import app
from tests.studio.conftest import ROOT, copy_flows

runner = CliRunner()


def test_refuses_another_address_without_allow_remote(tmp_path: Path) -> None:
    result = runner.invoke(app, ["studio", str(copy_flows(tmp_path)), "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "--allow-remote" in result.output
    assert "Traceback" not in result.output


def test_refuses_a_folder_that_is_not_there(tmp_path: Path) -> None:
    result = runner.invoke(app, ["studio", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "is not a folder" in result.output


@contextmanager
def _served(*args: str) -> Iterator[tuple[str, list[str]]]:
    """The command running; its URL and the lines it printed until then."""
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "studio", *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        while not (found := re.search(r"open (http://\S+)", lines[-1] if lines else "")):
            line = process.stdout.readline()
            assert line, f"the studio ended before printing its URL: {lines}"
            lines.append(line)
        yield found.group(1), lines
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        finally:
            process.stdout.close()
    assert code == 0, "Ctrl-C stops the studio cleanly"


def _get(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=20) as reply:
            status: int = reply.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


def test_serves_on_loopback_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    with _served(str(copy_flows(tmp_path))) as (url, lines):
        assert url.startswith("http://127.0.0.1:")
        assert "?token=" not in url
        assert _get(url + "api/flows") == 200
    assert not any("WARNING" in line for line in lines)


def test_another_address_warns_and_needs_the_token(tmp_path: Path) -> None:
    folder = str(copy_flows(tmp_path))
    with _served(folder, "--host", "0.0.0.0", "--allow-remote") as (url, lines):
        token = url.split("?token=", 1)[1]
        base = "http://127.0.0.1:" + url.split(":")[2].split("/")[0] + "/"
        assert _get(base + "api/flows") == 401
        assert _get(base + "api/flows", {"X-Studio-Token": "guess"}) == 401
        assert _get(base + "api/flows", {"X-Studio-Token": token}) == 200
    assert any(line.startswith("WARNING") for line in lines)
    assert len(token) >= 40


def test_refuses_a_music_dir_that_is_not_there(tmp_path: Path) -> None:
    folder = str(copy_flows(tmp_path))
    result = runner.invoke(app, ["studio", folder, "--music-dir", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "--music-dir" in result.output
