"""The `orchestrator` command line, in-process and through the installed entry point."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.flow.schema import flow_schema
from tests.conftest import FLOWS, HOSTILE, ROOT

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout, result.stderr


class TestValidate:
    def test_shipped_flows_are_valid(self) -> None:
        code, out, _ = run("validate", *map(str, FLOWS))
        assert code == 0
        assert out.splitlines() == [f"{path}: ok" for path in FLOWS]

    def test_problems_exit_1_with_positioned_lines(self) -> None:
        bad = HOSTILE / "typo_key.yaml"
        code, out, err = run("validate", str(FLOWS[0]), str(bad))
        assert code == 1
        assert out.splitlines()[1] == (
            f"{bad}:7:37: unknown key 'ringing_timout' in steps.dial_sup (did you mean "
            "'ring_timeout'?); allowed: caller_id, description, max_visits, next, outcomes, "
            "ring, ring_timeout, to, trunk, type"
        )
        assert "1 of 2 flow(s) invalid" in err

    def test_missing_file(self, tmp_path: Path) -> None:
        missing = tmp_path / "nope.yaml"
        code, out, _ = run("validate", str(missing))
        assert (code, out) == (
            1,
            f"{missing}:1:1: cannot read the file: No such file or directory\n",
        )

    def test_no_arguments_is_a_usage_error(self) -> None:
        assert run("validate")[0] == 2


class TestSchema:
    def test_prints_the_schema(self) -> None:
        code, out, _ = run("schema")
        assert code == 0
        assert json.loads(out) == flow_schema()

    def test_writes_a_file(self, tmp_path: Path) -> None:
        target = tmp_path / "flow.schema.json"
        assert run("schema", "-o", str(target))[0] == 0
        assert json.loads(target.read_text()) == flow_schema()


class TestGraph:
    def test_mermaid_by_default_names_states_after_steps(self) -> None:
        code, out, _ = run("graph", str(ROOT / "flows" / "warm_transfer.yaml"))
        assert code == 0
        assert out.startswith("flowchart LR\n")
        assert '    n_dial_supervisor__1 -->|"answered"| n_brief_supervisor\n' in out
        assert '        n_dial_supervisor__1["1. on_call_supervisor<br>rings 25 s"]\n' in out
        assert '    n_agent_leaves(["<b>agent_leaves</b><br>exit<br>' in out
        assert "n_requested" not in out

    def test_internal_adds_the_engine_states(self) -> None:
        code, out, _ = run("graph", "--internal", str(ROOT / "flows" / "warm_transfer.yaml"))
        assert code == 0
        assert '    n_requested -->|"start"| n_hold_caller\n' in out
        assert '    n_requested -->|"abort"| n_aborted\n' in out

    def test_dot(self) -> None:
        code, out, _ = run(
            "graph", "--format", "dot", str(ROOT / "flows" / "supervisor_chain.yaml")
        )
        assert code == 0
        assert out.startswith('digraph "supervisor_chain" {')
        assert '"still_trying" -> "dial_supervisors" [label="done"];' in out

    @pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
    def test_svg(self) -> None:
        code, out, _ = run("graph", "-f", "svg", str(ROOT / "flows" / "warm_transfer.yaml"))
        assert code == 0
        assert "<svg" in out

    def test_svg_without_graphviz_explains_the_fix(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(shutil, "which", lambda _: None)
        code, _, err = run("graph", "-f", "svg", str(ROOT / "flows" / "warm_transfer.yaml"))
        assert code == 1
        assert "install Graphviz" in err

    def test_invalid_flow(self) -> None:
        code, out, err = run("graph", str(HOSTILE / "unknown_next.yaml"))
        assert (code, out) == (1, "")
        assert ":8:68: steps.brief_sup.next: unknown step 'merge_cal'" in err

    def test_unknown_format_is_a_usage_error(self) -> None:
        assert run("graph", "-f", "png", str(FLOWS[0]))[0] == 2


@pytest.mark.parametrize("command", [[], ["validate"], ["schema"], ["graph"]])
def test_help_on_every_command(command: list[str]) -> None:
    code, out, _ = run(*command, "--help")
    assert code == 0
    assert "Usage:" in out


def test_python_dash_m_entry_point() -> None:
    """The real process: exit codes and clean output, no traceback, through `python -m`."""
    ok = subprocess.run(
        [sys.executable, "-m", "orchestrator", "validate", *map(str, FLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestrator",
            "validate",
            *map(str, sorted(HOSTILE.glob("*.yaml"))),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert "Traceback" not in bad.stdout + bad.stderr


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "orchestrator"
    result = subprocess.run([script, "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "validate" in result.stdout


@pytest.mark.parametrize("command", [["schema"], ["graph", str(FLOWS[0])]])
def test_unwritable_output_is_an_error_not_a_traceback(tmp_path: Path, command: list[str]) -> None:
    code, _, err = run(*command, "-o", str(tmp_path / "missing-dir" / "out.txt"))
    assert code == 1
    assert err.startswith(f"error: cannot write {tmp_path / 'missing-dir' / 'out.txt'}: ")


@pytest.mark.parametrize("command", [["simulate", str(FLOWS[0]), "--instant"], ["sandbox"]])
def test_unwritable_record_is_an_error_not_a_traceback(tmp_path: Path, command: list[str]) -> None:
    target = tmp_path / "missing-dir" / "requests.jsonl"
    code, out, err = run(*command, "--record", str(target))
    assert code == 1
    assert err.startswith(f"error: cannot write --record {target}: ")
    assert "listening" not in out


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_a_port_out_of_range_is_an_error_not_a_traceback(port: str) -> None:
    code, _, err = run("sandbox", "--port", port)
    assert code == 2
    assert "--port" in err
