"""`orchestrator simulate`: run a flow against the embedded sandbox and show what happened."""

from __future__ import annotations

import asyncio
import json as jsonlib
import sys
from collections.abc import Coroutine, MutableMapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import structlog
import typer

from orchestrator.cli.pipe import Stdout
from orchestrator.cli.sandbox_cmd import FlavorOption, check_record
from orchestrator.clock import Clock, ManualClock, RealClock
from orchestrator.errors import FlowError, TransferError
from orchestrator.logs import configure_logging, mask, mask_phone_numbers
from orchestrator.timeline import Stream

__all__ = ["simulate"]

T = TypeVar("T")


class _Timeline:
    """structlog renderer: one line per shown event (`orchestrator.timeline`), stamped with
    simulated time; hidden events are dropped."""

    def __init__(self, clock: Clock, *, api: bool) -> None:
        self.clock = clock
        self.stream = Stream(api=api)

    def __call__(self, _: Any, __: str, event: MutableMapping[str, Any]) -> str:
        event.setdefault("at", self.clock.now())
        line = self.stream.line(event)
        if line is None:
            raise structlog.DropEvent
        return line


class _Stamp:
    """structlog processor: `at`, the simulated seconds of the event (as the timeline shows)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def __call__(self, _: Any, __: str, event: MutableMapping[str, Any]) -> Any:
        event.setdefault("at", round(self.clock.now(), 3))
        return event


async def _stopped_by_closed_stdout(work: Coroutine[Any, Any, T]) -> T:
    """`work`, cancelled when stdout is closed (`--speed N | head`): nobody is watching."""
    task = asyncio.current_task()
    stdout = sys.stdout
    if isinstance(stdout, Stdout) and task is not None:
        if stdout.broken:  # already, by the first line
            work.close()
            raise asyncio.CancelledError

        def stop() -> None:
            task.get_loop().call_soon(task.cancel)

        stdout.on_broken.append(stop)
    return await work


def simulate(
    flow: Annotated[Path, typer.Argument(help="The flow file to run.", show_default=False)],
    scenario: Annotated[
        Path | None, typer.Option(help="Scenario file: caller, trunk, phones, faults, speed.")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="One JSON log object per line.")] = False,
    record: Annotated[
        Path | None,
        typer.Option(help="Write every LiveKit request the sandbox received (JSON lines)."),
    ] = None,
    flavor: Annotated[
        FlavorOption, typer.Option(help="cloud, or oss: no MoveParticipant/ForwardParticipant.")
    ] = FlavorOption.cloud,
    speed: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            max=100_000,
            help="Watch it unfold: simulated time runs N times faster than real time "
            "(wins over the scenario's speed). Default: instant.",
            show_default=False,
        ),
    ] = None,
    api: Annotated[
        bool, typer.Option("--api", help="Show every LiveKit API call, the probe's too.")
    ] = False,
    music_dir: Annotated[
        Path | None,
        typer.Option(help="Where hold music files are (default: the flow file's folder)."),
    ] = None,
    instant: Annotated[
        bool, typer.Option(hidden=True, help="The default (kept for old scripts).")
    ] = False,
) -> None:
    """Run FLOW against the embedded LiveKit sandbox; exit 0 when it reaches an outcome.

    Instant unless --speed N is given. A scenario's `speed:` sets the pace of `orchestrator
    sandbox`; simulate does not use it (--speed decides).
    """
    from orchestrator.flow import load_flow
    from orchestrator.sandbox import load_scenario
    from orchestrator.simulate import simulate as run

    try:
        loaded = load_flow(flow, check_music=True, music_dir=music_dir)
        script = load_scenario(scenario) if scenario else None
    except FlowError as exc:
        for problem in exc.problems:
            typer.echo(problem.render(exc.source), err=True)
        raise typer.Exit(1) from None
    check_record(record)
    del instant  # instant is the default
    clock: Clock = ManualClock() if speed is None else RealClock(speed)
    if json:
        configure_logging(json=True)
        processors = structlog.get_config()["processors"]
        structlog.configure(processors=[_Stamp(clock), *processors])
    else:
        structlog.configure(
            processors=[mask_phone_numbers, _Timeline(clock, api=api)],
            logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
            cache_logger_on_first_use=False,
        )
        typer.echo(f"Simulating {flow} against the LiveKit sandbox ({flavor.value})")
    if record is not None:
        record.unlink(missing_ok=True)
    work = run(loaded, script, flavor=flavor.value, record=record, clock=clock)
    try:
        result = asyncio.run(_stopped_by_closed_stdout(work) if speed else work)
    except TransferError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except asyncio.CancelledError:  # stdout was closed: nobody is watching any more
        raise typer.Exit(0) from None
    if not json:
        if result.leftover_rooms:
            typer.echo(f"left behind: {', '.join(map(mask, result.leftover_rooms))}")
    elif result.leftover_rooms:
        typer.echo(
            jsonlib.dumps(
                {"event": "simulate.leftover_rooms", "rooms": [*map(mask, result.leftover_rooms)]}
            )
        )
