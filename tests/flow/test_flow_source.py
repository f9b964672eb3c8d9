"""A flow file watched for changes (`orchestrator.flow.source`) and the flow's version
(`orchestrator.flow.version`): what a running worker does with a designer's edit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from orchestrator import FlowError, load_flow
from orchestrator.flow import source
from orchestrator.flow.compiler import compiled
from orchestrator.flow.model import Flow
from orchestrator.flow.source import FlowSource
from orchestrator.flow.version import flow_version
from tests.conftest import WARM_TRANSFER as ORIGINAL, events, save

ROOT = Path(__file__).resolve().parents[2]
HOLD_SAY = "Please hold for a moment while I connect you with a supervisor."


def test_the_version_is_twelve_hex_digits_of_what_the_flow_means() -> None:
    flow = load_flow(ORIGINAL.encode())
    version = flow_version(flow)
    assert re.fullmatch(r"[a-p]{12}", version)  # letters: never masked as a number
    # Comments, spacing and quoting are how it is written, not what it does.
    rewritten = ORIGINAL.replace("# The five phases", "# Five phases").replace(
        "max_hold: 120", "max_hold:    120   # two minutes"
    )
    assert flow_version(load_flow(rewritten.encode())) == version
    # A default written out is the same flow as the default left out.
    assert flow_version(load_flow(ORIGINAL.replace("version: 1\n", "").encode())) == version
    changed = ORIGINAL.replace("ring_timeout: 25", "ring_timeout: 20")
    assert flow_version(load_flow(changed.encode())) != version


def test_an_unchanged_file_is_not_read_again(
    flow_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    watched = FlowSource(flow_file)
    loads: list[object] = []

    def counting(*args: Any, **kwargs: Any) -> Flow:
        loads.append(args)
        return load_flow(*args, **kwargs)

    monkeypatch.setattr(source, "load_flow", counting)
    first = watched.current()
    with capture_logs() as logs:
        for _ in range(3):
            assert watched.current() is first
    assert loads == []
    assert logs == []
    save(flow_file, ORIGINAL)  # saved again, unchanged: read, and still the same flow
    with capture_logs() as logs:
        assert watched.current() is first
    assert len(loads) == 1
    assert logs == []  # nothing changed that a designer would want to hear about


def test_a_valid_edit_is_used_from_the_next_call(flow_file: Path) -> None:
    watched = FlowSource(flow_file)
    before = watched.version
    save(flow_file, ORIGINAL.replace(HOLD_SAY, "One moment, please."))
    with capture_logs() as logs:
        flow = watched.current()
    assert flow.steps["hold_caller"].say == "One moment, please."  # type: ignore[union-attr]
    assert watched.version == flow_version(flow) != before
    (reloaded,) = events(logs, "flow.reloaded")
    assert reloaded["flow_version"] == watched.version
    assert reloaded["previous_flow_version"] == before
    assert reloaded["file"] == str(flow_file)
    assert {"transfer_id", "flow"} <= set(reloaded)


def test_an_invalid_edit_keeps_the_last_good_version_and_says_why_once(
    flow_file: Path,
) -> None:
    watched = FlowSource(flow_file)
    good = watched.current()
    broken = ORIGINAL.replace("ring_timeout: 25", "ring_timout: 25").replace(
        "caller_id:\n  mode: preserve", "caller_id:\n  mode: keep"
    )
    save(flow_file, broken)
    with capture_logs() as logs:
        assert watched.current() is good
        assert watched.current() is good  # reported once per change, not per transfer
    (failed,) = events(logs, "flow.reload_failed")
    assert failed["log_level"] == "warning"
    assert failed["flow_version"] == flow_version(good)  # the version kept in use
    problems = failed["problems"]
    assert len(problems) == 2
    assert problems[0].startswith(f"{flow_file}:13:9: ")  # mode: keep
    assert problems[1].startswith(f"{flow_file}:32:5: ")  # ring_timout
    assert "ring_timeout" in problems[1]  # did you mean
    # Fixed: the fix is used.
    save(flow_file, ORIGINAL.replace("ring_timeout: 25", "ring_timeout: 15"))
    with capture_logs() as logs:
        fixed = watched.current()
    assert fixed.steps["dial_supervisor"].ring_timeout == 15  # type: ignore[union-attr]
    assert events(logs, "flow.reloaded")


def test_phone_numbers_in_the_problems_are_masked(flow_file: Path) -> None:
    watched = FlowSource(flow_file)
    save(flow_file, ORIGINAL.replace('number: "+15105550100"', 'number: "+1510555010099999"'))
    with capture_logs() as logs:
        watched.current()
    (failed,) = events(logs, "flow.reload_failed")
    (problem,) = failed["problems"]
    assert problem.startswith(f"{flow_file}:19:")
    assert "5105550100" not in repr(failed)


def test_a_deleted_file_keeps_the_last_good_version(flow_file: Path) -> None:
    watched = FlowSource(flow_file)
    good = watched.current()
    flow_file.unlink()
    with capture_logs() as logs:
        assert watched.current() is good
    (failed,) = events(logs, "flow.reload_failed")
    assert failed["problems"][0].startswith(f"{flow_file}:1:1: cannot read the file")
    save(flow_file, ORIGINAL.replace("ring_timeout: 25", "ring_timeout: 15"))  # put back
    assert watched.current() is not good


def test_a_failing_check_keeps_the_last_good_version_at_the_line_it_names(
    flow_file: Path,
) -> None:
    def music(flow: Flow) -> list[tuple[tuple[str | int, ...], str]]:
        step = flow.steps["hold_caller"]
        if getattr(step, "music", "") == "jazz.mp3":
            return [(("steps", "hold_caller", "music"), "music file 'jazz.mp3' not found")]
        return []

    watched = FlowSource(flow_file, check=music)
    good = watched.current()
    save(flow_file, ORIGINAL.replace("music: builtin", "music: jazz.mp3"))
    with capture_logs() as logs:
        assert watched.current() is good
    (failed,) = events(logs, "flow.reload_failed")
    assert failed["problems"] == [f"{flow_file}:26:12: music file 'jazz.mp3' not found"]


def test_a_file_written_while_it_is_read_is_read_again_next_time(flow_file: Path) -> None:
    saves = iter([ORIGINAL.replace("ring_timeout: 25", "ring_timeout: 15")])

    def meanwhile(flow: Flow) -> list[tuple[tuple[str | int, ...], str]]:
        text = next(saves, None)  # the editor saves again while the first save is read
        if text is not None:
            save(flow_file, text)
        return []

    watched = FlowSource(flow_file, check=meanwhile)
    good = watched.current()
    save(flow_file, ORIGINAL.replace("ring_timeout: 25", "ring_timeout: 20"))
    assert watched.current() is good  # not taken: it had changed again while read
    assert watched.current().steps["dial_supervisor"].ring_timeout == 15  # type: ignore[union-attr]


def test_a_worker_cannot_start_with_an_invalid_file(flow_file: Path) -> None:
    save(flow_file, ORIGINAL.replace("ring_timeout: 25", "ring_timout: 25"))
    with pytest.raises(FlowError, match=r":32:5: "):
        FlowSource(flow_file)


def test_the_version_is_taken_once_per_flow_object() -> None:
    flow = load_flow(ORIGINAL.encode())
    assert compiled(flow).version == flow_version(flow)
    assert compiled(flow) is compiled(flow)  # made once, version included
    again = load_flow(ORIGINAL.encode())  # another object, the same meaning: the same version
    assert compiled(again).version == compiled(flow).version
