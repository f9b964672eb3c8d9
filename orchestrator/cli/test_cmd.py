"""`orchestrator test`: run scenario tests against their flows, report what held and what
no test reached."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import structlog
import typer

from orchestrator.errors import FlowError, Problem

if TYPE_CHECKING:
    from orchestrator.flowtests import FlowTest, FlowTestResult

__all__ = ["flow_test"]

DEFAULT_PATH = Path("flows")


def _drop(_: Any, __: str, ___: MutableMapping[str, Any]) -> Mapping[str, Any]:
    raise structlog.DropEvent  # a test run's own log lines are its report, not the console


def flow_test(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Scenario test files, or folders searched for them (default: flows/).",
            metavar="PATH",
            show_default=False,
        ),
    ] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Also write the results as JUnit XML here.")
    ] = None,
) -> None:
    """Run scenario tests on the simulated clock, without waiting (docs/testing-flows.md).

    A scenario test is a YAML file with a top-level `flow:` key and `expect:`.

    Prints PASS or FAIL per scenario, then each flow's steps and outcomes no test reached.

    Exit 0 when every expectation held, 1 when one did not, 2 on invalid input (PATH:LINE:COL).
    """
    from orchestrator.flowtests import discover, load_flow_test
    from orchestrator.flowtests.junit import junit_xml
    from orchestrator.flowtests.report import report

    started = time.perf_counter()
    given = paths or [DEFAULT_PATH]
    invalid: list[tuple[Path, FlowError]] = []
    for path in given:
        if not path.exists():
            what = "folder" if path == DEFAULT_PATH and not paths else "file or folder"
            problem = Problem(1, 1, f"no such {what}; name scenario test files or folders")
            invalid.append((path, FlowError(str(path), [problem])))
    files = discover([path for path in given if path.exists()])
    if not files and not invalid:
        shown = ", ".join(map(str, given))
        typer.echo(
            f"no scenario tests in {shown} (a scenario test is a .yaml file with a top-level "
            "`flow:` key)",
            err=True,
        )
        raise typer.Exit(2)
    tests: list[FlowTest] = []
    for path in files:
        try:
            tests.append(load_flow_test(path))
        except FlowError as error:
            invalid.append((path, error))
    logging = structlog.get_config()
    structlog.configure(processors=[_drop], cache_logger_on_first_use=False)
    try:
        results, seconds = asyncio.run(_run_all(tests))
    finally:
        structlog.configure(**logging)
    lines = report(tests, results, invalid)
    for line in lines:
        typer.echo(line)
    elapsed = time.perf_counter() - started
    simulated = sum(result.simulated_seconds for result in results)
    passed = sum(result.passed for result in results)
    summary = f"{passed} passed, {len(results) - passed} failed"
    if invalid:
        summary += f", {len(invalid)} invalid"
    typer.echo(f"{summary} in {elapsed:.2f} s ({simulated:g} s of calls simulated)")
    if junit is not None:
        try:
            junit.write_bytes(junit_xml(results, invalid, seconds))
        except OSError as error:
            typer.echo(f"error: cannot write {junit}: {error.strerror or 'failed'}", err=True)
            raise typer.Exit(2) from None
    if invalid:
        raise typer.Exit(2)
    if passed < len(results):
        raise typer.Exit(1)


async def _run_all(tests: list[FlowTest]) -> tuple[list[FlowTestResult], dict[Path, float]]:
    from orchestrator.flowtests import arun_flow_test

    results: list[FlowTestResult] = []
    seconds: dict[Path, float] = {}
    for test in tests:
        began = time.perf_counter()
        results.append(await arun_flow_test(test))
        seconds[test.path] = time.perf_counter() - began
    return results, seconds
