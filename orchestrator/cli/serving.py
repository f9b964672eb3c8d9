"""What the long-running commands (`studio`, `watchdog`, `sandbox`) share: listening on
`--host/--port` with a message instead of a traceback, and stopping on Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["address", "listen", "stop_on_signals"]


def address(host: str, port: int) -> str:
    """`host:port` as a URL writes it: an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def listen(
    app: web.Application, host: str, port: int, fail: Callable[[str], typer.Exit]
) -> tuple[web.AppRunner, int]:
    """Serve `app` on `host:port`; the runner, and the port bound (`--port 0` picks one).
    A port taken or an address not ours is the user's to fix: `fail` words it."""
    from aiohttp import web  # only the serving commands pay for aiohttp's import

    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as error:
        await runner.cleanup()
        raise fail(
            f"--host/--port: cannot listen on {address(host, port)}: {error.strerror}"
        ) from None
    return runner, runner.addresses[0][1] if runner.addresses else port


def stop_on_signals() -> asyncio.Event:
    """An event set by Ctrl-C (SIGINT) or SIGTERM, for a server to wait on and then close."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
