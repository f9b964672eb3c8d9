"""`orchestrator simulate`: run a flow against the embedded sandbox and show what happened."""

from __future__ import annotations

import asyncio
import json as jsonlib
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer

from orchestrator.cli.sandbox_cmd import FlavorOption, check_record
from orchestrator.clock import Clock, ManualClock, RealClock
from orchestrator.errors import FlowError, TransferError
from orchestrator.logs import configure_logging, mask, mask_phone_numbers

__all__ = ["simulate"]


class _Timeline:
    """structlog renderer: one readable line per event, stamped with simulated time."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def __call__(self, _: Any, __: str, event: MutableMapping[str, Any]) -> str:
        at = f"{self.clock.now():7.2f}s"
        name = event.get("event", "")
        if name == "transfer.transition":
            return f"{at}  -> {event['to_state']:<24} ({event['trigger']})"
        if name == "livekit.request":
            status = "ok" if event.get("ok") else f"{event.get('error_code')}"
            if event.get("sip_status_code"):
                status += f" (SIP {event['sip_status_code']})"
            return f"{at}       {event['rpc']:<32} {status}  {event['duration_ms']} ms"
        if name == "transfer.started":
            caller = event.get("caller")
            return f"{at}  transfer {event.get('transfer_id')} started for caller {caller}"
        if name == "dial.request":
            shown = event["caller_id"] or "(a trunk number)"
            return f"{at}       dialling {event['to']} showing caller ID {shown}"
        if name == "transfer.finished":
            ttm = event.get("time_to_supervisor_seconds")
            tail = f", time to supervisor {ttm} s" if ttm is not None else ""
            reason = f" ({event['reason']})" if event.get("reason") else ""
            return (
                f"{at}  outcome: {event['outcome']}{reason}, on hold {event['hold_seconds']} s"
                f"{tail}, {event['attempts']} attempt(s)"
            )
        details = " ".join(
            f"{k}={v}"
            for k, v in event.items()
            if k not in ("event", "level", "transfer_id", "flow")
        )
        return f"{at}       {name} {details}".rstrip()


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
    instant: Annotated[
        bool, typer.Option(help="Simulated time jumps ahead instead of passing (no waiting).")
    ] = False,
) -> None:
    """Run FLOW against the embedded LiveKit sandbox; exit 0 when it reaches an outcome."""
    from orchestrator.flow import load_flow
    from orchestrator.sandbox import load_scenario
    from orchestrator.simulate import simulate as run

    try:
        loaded = load_flow(flow)
        script = load_scenario(scenario) if scenario else None
    except FlowError as exc:
        for problem in exc.problems:
            typer.echo(problem.render(exc.source), err=True)
        raise typer.Exit(1) from None
    check_record(record)
    speed = script.speed if script else 1.0
    clock: Clock = ManualClock() if instant else RealClock(speed)
    if json:
        configure_logging(json=True)
    else:
        structlog.configure(
            processors=[mask_phone_numbers, _Timeline(clock)],
            logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
            cache_logger_on_first_use=False,
        )
        typer.echo(f"Simulating {flow} against the LiveKit sandbox ({flavor.value})")
    if record is not None:
        record.unlink(missing_ok=True)
    try:
        result = asyncio.run(run(loaded, script, flavor=flavor.value, record=record, clock=clock))
    except TransferError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if not json:
        calls = ", ".join(call.action for call in result.media.calls)
        typer.echo(f"media: {calls}")
        if result.leftover_rooms:
            typer.echo(f"left behind: {', '.join(map(mask, result.leftover_rooms))}")
    elif result.leftover_rooms:
        typer.echo(
            jsonlib.dumps(
                {"event": "simulate.leftover_rooms", "rooms": [*map(mask, result.leftover_rooms)]}
            )
        )
