"""`orchestrator report`: the call-centre figures from JSON log lines, for people or machines."""

from __future__ import annotations

import contextlib
import json as jsonlib
from pathlib import Path
from typing import IO, Annotated

import typer

__all__ = ["report"]


def report(
    logs: Annotated[
        list[str],
        typer.Argument(
            help="Log files of JSON lines (`--json` logs); - reads stdin.",
            metavar="LOG",
            show_default=False,
        ),
    ],
    json: Annotated[
        bool, typer.Option("--json", help="One JSON object with every figure, for machines.")
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write one self-contained page with charts to FILE (opens offline).",
            metavar="FILE",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Call-centre figures per flow and target from JSON log lines (docs/report.md).

    Transfers, merged %, outcomes, time to supervisor and hold p50/p95, declines, chains.

    Unreadable and foreign lines are counted and skipped, never fatal.

    Exit 0 with a report, even of no transfer; 2 when a log cannot be read or the page
    cannot be written.
    """
    from orchestrator.report import read_lines, render_html, render_text, report as build

    with contextlib.ExitStack() as stack:
        sources: list[tuple[str, IO[bytes]]] = []
        for name in logs:
            if name == "-":
                sources.append(("<stdin>", typer.get_binary_stream("stdin")))
                continue
            try:
                sources.append((name, stack.enter_context(Path(name).open("rb"))))
            except OSError as error:
                typer.echo(
                    f"report: cannot read {name}: {error.strerror or 'failed'} (give log files "
                    "of JSON lines, as `configure_logging(json=True)` or `orchestrator "
                    "simulate --json` write them, or - for stdin)",
                    err=True,
                )
                raise typer.Exit(2) from None
        try:
            figures = build(read_lines(sources))
        except OSError as error:  # a read that fails midway (a directory, a vanished disk)
            typer.echo(f"report: cannot read the logs: {error.strerror or 'failed'}", err=True)
            raise typer.Exit(2) from None
    if html is not None:
        try:
            html.write_text(render_html(figures), encoding="utf-8")
        except OSError as error:
            typer.echo(
                f"report: cannot write {html}: {error.strerror or 'failed'} (give --html a "
                "file path in a folder that exists and can be written)",
                err=True,
            )
            raise typer.Exit(2) from None
        typer.echo(f"report: wrote {html} ({figures['transfers']} transfer(s))", err=True)
    if json:
        typer.echo(jsonlib.dumps(figures, indent=None, sort_keys=False))
    else:
        typer.echo(render_text(figures), nl=False)
