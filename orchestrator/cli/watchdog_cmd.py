"""`orchestrator watchdog`: self-hosted crash recovery, served next to livekit-server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import warnings
from typing import Annotated

import typer

from orchestrator.cli.serving import address, listen, stop_on_signals
from orchestrator.logs import configure_logging

__all__ = ["watchdog"]

_AGENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_ENV = ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")
_SWEEP = (1.0, 3600.0)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"watchdog: {message}", err=True)
    return typer.Exit(2)


def watchdog(
    agent_name: Annotated[
        str,
        typer.Option(
            help="The agent to dispatch again (your worker's agent_name).", show_default=False
        ),
    ],
    host: Annotated[str, typer.Option(help="Address to listen on for webhooks.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on (0 picks a free one).")
    ] = 7879,
    sweep_seconds: Annotated[
        float,
        typer.Option(help="List the rooms every N seconds, 1 to 3600 (and at start)."),
    ] = 30.0,
    cloud: Annotated[
        bool, typer.Option(help="Run against LiveKit Cloud too (it recovers jobs itself).")
    ] = False,
    json_logs: Annotated[
        bool, typer.Option("--json", help="One JSON log object per line.")
    ] = False,
) -> None:
    """Dispatch the agent again where its worker died mid-transfer (self-hosted LiveKit).

    Receives livekit-server's signed webhooks at POST /webhook (set `webhook.urls` in its
    config), sweeps the rooms every --sweep-seconds, answers GET /healthz and GET /metrics.
    Reads LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET (the key webhooks are signed
    with).
    """
    from orchestrator.livekit.address import check_url
    from orchestrator.watchdog import Watchdog, aiohttp_app

    url, key, secret = (os.environ.get(name, "").strip() for name in _ENV)
    missing = [name for name, value in zip(_ENV, (url, key, secret), strict=True) if not value]
    if missing:
        raise _fail(f"set {', '.join(missing)} (the LiveKit server and its API key)")
    try:
        check_url(url)
    except ValueError as error:
        raise _fail(f"LIVEKIT_URL: {str(error).removeprefix('url: ')}") from None
    if not _AGENT_NAME.fullmatch(agent_name):
        raise _fail(
            "--agent-name: letters, digits and _ . : - (up to 128), as your worker registers it"
        )
    if not host.strip():
        raise _fail(
            "--host: name the address to listen on, like 127.0.0.1 (every interface only when "
            "asked for: 0.0.0.0 or ::)"
        )
    if not _SWEEP[0] <= sweep_seconds <= _SWEEP[1]:  # also nan and inf
        raise _fail(
            f"--sweep-seconds: must be a number of seconds between {_SWEEP[0]:g} and "
            f"{_SWEEP[1]:g}, got {sweep_seconds}"
        )
    try:
        service = Watchdog(
            url, key, secret, agent_name=agent_name, sweep_seconds=sweep_seconds, cloud=cloud
        )
    except ValueError as error:
        field, _, why = str(error).partition(": ")
        raise _fail(f"{'LIVEKIT_URL' if field == 'url' else field}: {why}") from None

    async def serve() -> None:
        runner, bound = await listen(aiohttp_app(service), host, port, _fail)
        configure_logging(json=json_logs, level=logging.INFO)
        warnings.filterwarnings("ignore", message="The HMAC key is")  # short dev keys
        await service.start()
        stop = stop_on_signals()
        base = f"http://{address(host, bound)}"
        typer.echo(f"watchdog for agent {agent_name!r} on {base}")
        typer.echo(f"  webhooks: POST {base}/webhook (livekit-server's webhook.urls)")
        typer.echo(f"  health:   GET {base}/healthz")
        try:
            await stop.wait()
        finally:
            with contextlib.suppress(Exception):
                await service.aclose()
            await runner.cleanup()

    asyncio.run(serve())
