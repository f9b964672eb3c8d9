"""Typer app: `validate`, `schema`, `graph`, `simulate`, `sandbox`, `preflight`, `watchdog`,
`report`.

Bad input never produces a traceback: flow problems are printed as `PATH:LINE:COL: message`
lines and exit 1; usage mistakes exit 2 with click's message.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.pipe import run_quietly_on_closed_pipe
from orchestrator.cli.preflight_cmd import preflight
from orchestrator.cli.report_cmd import report
from orchestrator.cli.sandbox_cmd import sandbox
from orchestrator.cli.simulate_cmd import simulate
from orchestrator.cli.studio_cmd import studio
from orchestrator.cli.test_cmd import flow_test
from orchestrator.cli.watchdog_cmd import watchdog
from orchestrator.errors import FlowError, OrchestratorError
from orchestrator.flow import load_flow, render_graph
from orchestrator.flow.schema import flow_schema_text

__all__ = ["app", "main"]

app = typer.Typer(
    name="orchestrator",
    help="Warm call transfers on LiveKit, as YAML flows run by a state machine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class GraphFormat(StrEnum):
    mermaid = "mermaid"
    dot = "dot"
    svg = "svg"


@app.command()
def validate(
    flows: Annotated[list[Path], typer.Argument(help="Flow files to check.", show_default=False)],
    music_dir: Annotated[
        Path | None,
        typer.Option(help="Where hold music files are (default: each flow file's folder)."),
    ] = None,
) -> None:
    """Check flow files: exit 0 if all are valid, else 1 with a PATH:LINE:COL line per problem."""
    failed = 0
    for path in flows:
        try:
            load_flow(path, check_music=True, music_dir=music_dir)
        except FlowError as exc:
            failed += 1
            for problem in exc.problems:
                typer.echo(problem.render(exc.source))
        else:
            typer.echo(f"{path}: ok")
    if failed:
        typer.echo(f"{failed} of {len(flows)} flow(s) invalid", err=True)
        raise typer.Exit(1)


@app.command()
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
) -> None:
    """Print the flow JSON Schema (draft-07), for editors and CI."""
    _write(flow_schema_text(), output)


@app.command()
def graph(
    flow: Annotated[Path, typer.Argument(help="The flow file to draw.", show_default=False)],
    fmt: Annotated[
        GraphFormat, typer.Option("--format", "-f", help="Diagram language.")
    ] = GraphFormat.mermaid,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
    internal: Annotated[
        bool,
        typer.Option(
            "--internal", help="Also draw the engine's own states and every step's hang-up edge."
        ),
    ] = False,
) -> None:
    """Draw a flow (Mermaid by default; dot; svg needs Graphviz)."""
    try:
        text = render_graph(load_flow(flow), fmt.value, internal=internal)
    except FlowError as exc:
        for problem in exc.problems:
            typer.echo(problem.render(exc.source), err=True)
        raise typer.Exit(1) from None
    except OrchestratorError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    _write(text, output)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        typer.echo(f"error: cannot write {output}: {exc.strerror or 'failed'}", err=True)
        raise typer.Exit(1) from None


app.command()(sandbox)
app.command()(simulate)
app.command()(preflight)
app.command()(watchdog)
app.command()(report)
app.command()(studio)
app.command(name="test")(flow_test)


def main() -> None:
    """Console-script entry point (a closed stdout ends it quietly: `cli.pipe`)."""
    run_quietly_on_closed_pipe(app)
