"""`orchestrator sandbox`: run the LiveKit sandbox server in the foreground."""

from __future__ import annotations

import asyncio
import contextlib
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.serving import stop_on_signals
from orchestrator.errors import FlowError

__all__ = ["check_record", "sandbox"]


class FlavorOption(StrEnum):
    cloud = "cloud"
    oss = "oss"


def check_record(record: Path | None) -> None:
    """A --record file that cannot be written is said before anything runs."""
    if record is None:
        return
    try:
        with record.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        typer.echo(f"error: cannot write --record {record}: {exc.strerror}", err=True)
        raise typer.Exit(1) from None


def sandbox(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on (0 picks a free one).")
    ] = 7880,
    api_key: Annotated[str, typer.Option(help="API key clients sign tokens with.")] = "devkey",
    api_secret: Annotated[
        str, typer.Option(help="API secret clients sign tokens with.")
    ] = "secret",
    scenario: Annotated[
        Path | None, typer.Option(help="Scenario file: caller, trunk, phones, faults, speed.")
    ] = None,
    record: Annotated[
        Path | None, typer.Option(help="Append every request received to this file (JSON lines).")
    ] = None,
    webhook: Annotated[
        str | None, typer.Option(help="POST signed LiveKit webhooks to this URL.")
    ] = None,
    flavor: Annotated[
        FlavorOption, typer.Option(help="cloud, or oss: no MoveParticipant/ForwardParticipant.")
    ] = FlavorOption.cloud,
    caller_room: Annotated[
        str | None, typer.Option(help="Place the scenario's caller in this room at start.")
    ] = None,
    callers: Annotated[
        int, typer.Option(min=0, max=10_000, help="Also place callers in rooms call-1 ... call-N.")
    ] = 0,
) -> None:
    """Run a local server that speaks the LiveKit server API (Twirp), until Ctrl-C."""
    from orchestrator.sandbox import Sandbox, load_scenario

    try:
        loaded = load_scenario(scenario) if scenario else None
    except FlowError as exc:
        for problem in exc.problems:
            typer.echo(problem.render(exc.source), err=True)
        raise typer.Exit(1) from None
    check_record(record)

    async def serve() -> None:
        server = Sandbox(
            loaded,
            api_key=api_key,
            api_secret=api_secret,
            flavor=flavor.value,
            host=host,
            port=port,
            record=record,
            webhook=webhook,
        )
        try:
            await server.start()
        except OSError as exc:
            typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror}", err=True)
            raise typer.Exit(1) from None
        stop = stop_on_signals()
        typer.echo(f"LiveKit sandbox ({flavor.value}) listening")
        typer.echo(f"  LIVEKIT_URL={server.url}")
        typer.echo(f"  LIVEKIT_API_KEY={api_key}")
        typer.echo(f"  LIVEKIT_API_SECRET={api_secret}")
        typer.echo(f"  LIVEKIT_SIP_OUTBOUND_TRUNK={server.scenario.trunk.id}")
        if caller_room:
            identity = server.place_caller(caller_room)
            typer.echo(f"  caller {identity} is in room {caller_room}")
        for number in range(1, callers + 1):
            server.place_caller(f"call-{number}")
        if callers:
            typer.echo(f"  callers in rooms call-1 ... call-{callers}")
        typer.echo("Press Ctrl-C to stop.", err=True)
        try:
            await stop.wait()
        finally:
            with contextlib.suppress(Exception):
                await server.stop()

    asyncio.run(serve())
