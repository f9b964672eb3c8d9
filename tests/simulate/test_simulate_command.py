"""`orchestrator simulate` for designers: instant, --speed, --api, hold music, closed pipes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.clock import ManualClock, RealClock
from orchestrator.errors import TransferError
from tests.engine.conftest import ROOT

CHAIN = str(ROOT / "flows" / "supervisor_chain.yaml")
WARM = ROOT / "flows" / "warm_transfer.yaml"


def orchestrator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def clocks(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The clock each `simulate` run was given (the run itself stops there)."""
    seen: list[Any] = []

    async def stop(*_: Any, clock: Any = None, **__: Any) -> None:
        seen.append(clock)
        raise TransferError("stopped by the test")

    monkeypatch.setattr("orchestrator.simulate.simulate", stop)
    yield seen
    structlog.reset_defaults()


@pytest.mark.parametrize(
    ("args", "expected"),
    [([], ManualClock), (["--instant"], ManualClock), (["--speed", "5"], RealClock)],
)
def test_instant_by_default_and_speed_to_watch_it(
    clocks: list[Any], args: list[str], expected: type
) -> None:
    result = CliRunner().invoke(app, ["simulate", CHAIN, *args])
    assert result.exit_code == 1  # the stand-in's TransferError
    (clock,) = clocks
    assert type(clock) is expected
    if args[:1] == ["--speed"]:
        assert clock.speed == 5.0


def test_speed_must_be_positive_and_instant_is_hidden() -> None:
    result = CliRunner().invoke(app, ["simulate", CHAIN, "--speed", "0"])
    assert result.exit_code == 2
    assert "--speed" in result.output
    shown = CliRunner().invoke(app, ["simulate", "--help"]).output
    assert "--api" in shown
    assert "--speed" in shown
    assert "--music-dir" in shown
    assert "--instant" not in shown


def test_api_calls_only_with_api_and_the_probe_labelled() -> None:
    plain = orchestrator("simulate", CHAIN)
    assert plain.returncode == 0, plain.stderr
    assert "LiveKit API" not in plain.stdout
    assert "not_found" not in plain.stdout
    assert "invalid_argument" not in plain.stdout
    assert "dialling primary, showing the caller's number +1415***2671" in plain.stdout
    shown = orchestrator("simulate", CHAIN, "--api")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    probe = [line for line in lines if "(capability probe:" in line]
    assert [line.split("LiveKit API  ")[1].split()[:2] for line in probe] == [
        ["RoomService.MoveParticipant", "not_found"],
        ["RoomService.DeleteRoom", "not_found"],
        ["SIP.CreateSIPParticipant", "invalid_argument"],
    ]
    assert any("LiveKit API  SIP.CreateSIPParticipant ok" in line for line in lines)


def test_make_demo_shows_the_api_calls() -> None:
    makefile = (ROOT / "Makefile").read_text()
    demo = makefile.split("\ndemo:")[1].split("\n\n")[0]
    assert "orchestrator simulate" in demo
    assert "--api" in demo


@pytest.mark.parametrize(
    "command",
    [
        ["simulate", CHAIN, "--api"],
        ["simulate", CHAIN, "--json"],
        ["schema"],
        ["validate", CHAIN],
        ["graph", CHAIN],
    ],
)
def test_a_closed_stdout_ends_quietly_with_141(command: list[str]) -> None:
    read, write = os.pipe()
    os.close(read)  # closed before anything is written: the first write fails
    try:
        result = subprocess.run(
            [sys.executable, "-m", "orchestrator", *command],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=120,
        )
    finally:
        os.close(write)
    assert (result.returncode, result.stderr) == (141, "")


def music_flow(tmp_path: Path, music: str) -> Path:
    flow = tmp_path / "flow.yaml"
    flow.write_text(WARM.read_text().replace("music: builtin", f"music: {music}"))
    return flow


def test_a_missing_hold_music_file_is_refused_at_its_line(tmp_path: Path) -> None:
    flow = music_flow(tmp_path, "hold/jazz.mp3")
    line = next(n for n, text in enumerate(flow.read_text().splitlines(), 1) if "music:" in text)
    for command in (["validate", str(flow)], ["simulate", str(flow)]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 1
        assert result.output.startswith(
            f"{flow}:{line}:12: steps.hold_caller.music: the file 'hold/jazz.mp3' is not in "
            f"the flow file's folder ({tmp_path}): add it there, fix the path, pass "
            "--music-dir DIR"
        )
    (tmp_path / "hold").mkdir()
    (tmp_path / "hold" / "jazz.mp3").write_bytes(b"ID3")
    assert CliRunner().invoke(app, ["validate", str(flow)]).exit_code == 0


def test_music_dir_is_where_music_is_looked_for(tmp_path: Path) -> None:
    flow = music_flow(tmp_path, "jazz.mp3")
    music = tmp_path / "music"
    music.mkdir()
    (music / "jazz.mp3").write_bytes(b"ID3")
    assert (
        CliRunner().invoke(app, ["validate", str(flow), "--music-dir", str(music)]).exit_code == 0
    )
    elsewhere = CliRunner().invoke(app, ["validate", str(flow), "--music-dir", str(tmp_path)])
    assert elsewhere.exit_code == 1
    assert f"is not in the music folder ({tmp_path})" in elsewhere.output


@pytest.mark.parametrize("music", ["builtin", "none"])
def test_built_in_music_needs_no_file(tmp_path: Path, music: str) -> None:
    flow = music_flow(tmp_path, music)
    assert f"music: {music}" in flow.read_text()
    assert CliRunner().invoke(app, ["validate", str(flow)]).exit_code == 0


def test_load_flow_checks_music_only_when_asked(tmp_path: Path) -> None:
    from orchestrator import load_flow
    from orchestrator.errors import FlowError

    flow = music_flow(tmp_path, "jazz.mp3")
    assert load_flow(flow).steps["hold_caller"]  # existing callers: unchanged
    with pytest.raises(FlowError):
        load_flow(flow, check_music=True)


def test_a_syntax_mistake_is_positioned_by_validate(tmp_path: Path) -> None:
    flow = tmp_path / "quote.yaml"
    flow.write_text(WARM.read_text().replace("Please hold for a moment", '"Please hold', 1))
    line = next(n for n, t in enumerate(flow.read_text().splitlines(), 1) if '"Please' in t)
    result = CliRunner().invoke(app, ["validate", str(flow)])
    assert result.exit_code == 1
    assert result.output.startswith(f"{flow}:{line}:")
    assert "a quoted text starts here with a double quote" in result.output


def test_watching_with_speed_stops_when_stdout_closes(tmp_path: Path) -> None:
    """`simulate --speed N | head` stops the run at the closed pipe, not at its end."""
    scenario = tmp_path / "chain.yaml"
    scenario.write_text(
        'phones:\n  "+15105550100": {answer: busy}\n  "+15105550101": {answer: no_answer}\n'
    )
    record = tmp_path / "requests.jsonl"
    args = ["simulate", CHAIN, "--scenario", str(scenario), "--speed", "2"]
    with subprocess.Popen(
        [sys.executable, "-m", "orchestrator", *args, "--record", str(record)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as child:
        assert child.stdout is not None
        assert child.stderr is not None
        while b"dialling primary" not in child.stdout.readline():
            pass
        child.stdout.close()  # primary's busy line (0.5 s later) finds the pipe closed
        assert child.wait(timeout=60) == 141
        assert child.stderr.read() == b""
    called = [line for line in record.read_text().splitlines() if "sip_call_to" in line]
    # The third target would be dialled after backup's 20 s of ringing: never reached.
    assert not any("+15105550102" in line for line in called)
    assert any("+15105550100" in line for line in called)
