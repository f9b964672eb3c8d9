"""`orchestrator simulate`: the human timeline, JSON logs, the request record, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.engine.conftest import CANARIES, ROOT

FLOW = str(ROOT / "flows" / "warm_transfer.yaml")
SCENARIO = str(ROOT / "examples" / "demo_scenario.yaml")


def simulate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", "simulate", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_json_logs_follow_the_contract(tmp_path: Path) -> None:
    record = tmp_path / "requests.jsonl"
    result = simulate(FLOW, "--scenario", SCENARIO, "--json", "--instant", "--record", str(record))
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert all({"event", "timestamp", "level", "transfer_id", "flow"} <= set(e) for e in events)
    names = [e["event"] for e in events]
    # Before the transfer starts: find the caller, probe the server (once per engine), find
    # the caller again (a claim made during the probe), then claim the caller and read the
    # claim back (single flight across workers).
    assert names[:8] == [*["livekit.request"] * 7, "transfer.started"]
    assert [e["rpc"] for e in events[:7]] == [
        "RoomService.ListParticipants",
        "RoomService.MoveParticipant",
        "RoomService.DeleteRoom",
        "SIP.CreateSIPParticipant",
        "RoomService.ListParticipants",
        "RoomService.UpdateParticipant",
        "RoomService.GetParticipant",
    ]
    assert events[0]["transfer_id"] == events[7]["transfer_id"]
    assert names[-1] == "transfer.finished"
    finished = events[-1]
    assert finished["outcome"] == "merged"
    assert {"reason", "hold_seconds", "time_to_supervisor_seconds", "attempts"} <= set(finished)
    assert {"from_state", "to_state", "trigger"} <= set(
        next(e for e in events if e["event"] == "transfer.transition")
    )
    failed = [e for e in events if e["event"] == "livekit.request" and not e["ok"]]
    # The probes: `not_found` and `invalid_argument` mean the method exists and is allowed.
    assert failed == events[1:4]
    for canary in CANARIES:
        assert canary not in result.stdout
    recorded = [json.loads(line) for line in record.read_text().splitlines()]
    (dial,) = [
        r
        for r in recorded
        if r["rpc"] == "SIP.CreateSIPParticipant" and r["request"].get("sip_call_to")
    ]
    assert dial["request"]["sip_number"] == "+14155552671"  # the supervisor sees the caller


def test_human_timeline(tmp_path: Path) -> None:
    result = simulate(FLOW, "--scenario", SCENARIO, "--instant")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Simulating")
    assert any(
        "dialling on_call_supervisor, showing the caller's number +1415***2671" in line
        for line in lines
    )
    assert any(
        "step merge_call" in line and "(brief_supervisor: accepted)" in line for line in lines
    )
    assert "outcome: merged" in lines[-1]
    assert any(
        line.endswith(
            'said to the caller: "Please hold for a moment while I connect you with a supervisor."'
        )
        for line in lines
    )
    assert any(
        'said to the supervisor (on_call_supervisor): "You have a transferred call from '
        "+1415***2671." in line
        for line in lines
    )
    assert any(line.endswith("the AI agent leaves the call") for line in lines)


def test_any_outcome_exits_zero(tmp_path: Path) -> None:
    scenario = tmp_path / "busy.yaml"
    scenario.write_text("phones:\n  default: {answer: busy}\n")
    result = simulate(FLOW, "--scenario", str(scenario), "--instant")
    assert result.returncode == 0
    assert "outcome: returned (busy)" in result.stdout


def test_bad_inputs_exit_one_without_traceback(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("phones:\n  default: {answer: maybe}\n")
    result = simulate(FLOW, "--scenario", str(scenario))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{scenario}:2:21: phones.default.answer: answer is")
    bad_flow = simulate(str(ROOT / "tests" / "flows" / "hostile" / "typo_key.yaml"))
    assert bad_flow.returncode == 1
    assert "Traceback" not in bad_flow.stderr + result.stderr


def test_flavor_oss_merges_without_move_participant(tmp_path: Path) -> None:
    record = tmp_path / "requests.jsonl"
    result = simulate(FLOW, "--flavor", "oss", "--instant", "--json", "--record", str(record))
    assert result.returncode == 0, result.stderr
    finished = json.loads(result.stdout.splitlines()[-1])
    assert (finished["event"], finished["outcome"]) == ("transfer.finished", "merged")
    recorded = [json.loads(line) for line in record.read_text().splitlines()]
    moves = [r for r in recorded if r["rpc"] == "RoomService.MoveParticipant"]
    # The probe: the open-source server has no node claiming a move of nobody.
    assert [m["code"] for m in moves] == ["unavailable"]
    assert any(r["rpc"] == "RoomService.UpdateSubscriptions" for r in recorded)
