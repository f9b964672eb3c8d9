"""`orchestrator studio`: the designers' page, served on this machine."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.serving import address, listen, stop_on_signals

__all__ = ["studio"]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"studio: {message}", err=True)
    return typer.Exit(2)


def studio(
    folder: Annotated[
        Path, typer.Argument(metavar="DIR", help="The folder of flows to edit.")
    ] = Path("flows"),
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on (0 picks a free one).")
    ] = 8765,
    host: Annotated[
        str,
        typer.Option(help="Address to listen on; another than loopback needs --allow-remote."),
    ] = "127.0.0.1",
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Allow --host other than loopback: anyone who can reach it and has the "
            "printed token can edit and save the flows.",
        ),
    ] = False,
    music_dir: Annotated[
        Path | None,
        typer.Option(
            help="Check hold-music files in this folder (the worker's music_dir); by default "
            "next to each flow.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Edit the flows in DIR in a local web page: problems at their lines as you type, the
    diagram redrawn live, the flow's scenario tests run, saved atomically inside DIR."""
    from orchestrator.studio import Guard, is_loopback, studio_app

    if not folder.is_dir():
        raise _fail(f"DIR: {str(folder)!r} is not a folder (the flows to edit, like flows/)")
    if music_dir is not None and not music_dir.is_dir():
        raise _fail(f"--music-dir: {str(music_dir)!r} is not a folder")
    host = host.strip()
    if not host:
        raise _fail("--host: name the address to listen on, like 127.0.0.1")
    remote = not is_loopback(host)
    if remote and not allow_remote:
        raise _fail(
            f"--host {host}: not a loopback address; add --allow-remote to serve the studio "
            "to other machines (it then needs a token)"
        )
    guard = Guard(host, port, token=secrets.token_urlsafe(32) if remote else None)

    async def serve() -> None:
        app = studio_app(folder, guard, music_dir=music_dir)
        runner, guard.port = await listen(app, host, port, _fail)
        stop = stop_on_signals()
        url = f"http://{address(host, guard.port)}/"
        if guard.token is not None:
            typer.echo(
                f"WARNING: the studio listens on {host}, not only this machine: anyone who "
                "reaches it with the token below can change the flows in "
                f"{folder.resolve()}.",
                err=True,
            )
            typer.echo(f"studio for {folder}: open {url}?token={guard.token}")
        else:
            typer.echo(f"studio for {folder}: open {url}")
        typer.echo("Ctrl-C stops it.", err=True)
        try:
            await stop.wait()
        finally:
            with contextlib.suppress(Exception):
                await runner.cleanup()

    asyncio.run(serve())
