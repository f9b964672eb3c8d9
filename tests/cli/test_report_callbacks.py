"""`orchestrator report` over the logs of the business-hours flow: the callbacks are counted
as their outcome's reason `callback`, and the logs it reads hold no raw caller number."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from orchestrator.cli import app
from tests.conftest import ROOT

runner = CliRunner()
FLOW = ROOT / "flows" / "after_hours.yaml"


def simulated(tmp_path: Path, name: str, now: str) -> str:
    scenario = tmp_path / f"{name}.yaml"
    scenario.write_text(json.dumps({"now": now}), encoding="utf-8")
    args = ["simulate", str(FLOW), "--scenario", str(scenario), "--json", "--instant"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_callbacks_are_counted_by_reason(tmp_path: Path) -> None:
    lines = simulated(tmp_path, "closed", "2026-12-05T19:02:00+00:00")
    lines += simulated(tmp_path, "holiday", "2026-12-25T11:00:00+00:00")
    lines += simulated(tmp_path, "open", "2026-12-07T10:00:00+00:00")
    assert "4155552671" not in lines
    finished = [json.loads(line) for line in lines.splitlines() if '"transfer.finished"' in line]
    assert [(f["outcome"], f["reason"], f.get("callback_number")) for f in finished] == [
        ("hung_up", "callback", "+1415***2671"),
        ("hung_up", "callback", "+1415***2671"),
        ("merged", None, None),
    ]
    logs = tmp_path / "logs.jsonl"
    logs.write_text(lines, encoding="utf-8")
    result = runner.invoke(app, ["report", str(logs)])
    assert result.exit_code == 0, result.stderr
    assert "outcomes               hung_up 2 (callback 2); merged 1" in result.stdout
