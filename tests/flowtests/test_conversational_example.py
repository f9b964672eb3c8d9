"""`examples/conversational_brief.yaml` (docs/conversational-brief.md) and its scenario tests
pass, and they reach every step of the flow."""

from __future__ import annotations

from typer.testing import CliRunner

from orchestrator.cli.app import app
from tests.conftest import ROOT


def test_the_conversational_example_passes_and_every_step_is_reached() -> None:
    result = CliRunner().invoke(app, ["test", str(ROOT / "examples")])
    lines = result.stdout.splitlines()
    assert result.exit_code == 0, lines
    assert "PASS conversation_asks_then_connects" in lines
    assert "PASS conversation_silent_times_out" in lines
    assert any(
        line.endswith("conversational_brief.yaml: every step reached")
        or "conversational_brief.yaml: every step reached" in line
        for line in lines
    ), lines
