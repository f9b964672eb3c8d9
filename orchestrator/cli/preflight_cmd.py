"""`orchestrator preflight`: check a LiveKit deployment has what a flow needs."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer

from orchestrator.errors import FlowError
from orchestrator.logs import configure_logging

__all__ = ["preflight"]

_MARK = {"ok": "ok  ", "fail": "FAIL", "note": "note"}


def preflight(
    flow_path: Annotated[Path, typer.Argument(metavar="FLOW", help="The flow to check.")],
) -> None:
    """Check, before go-live, what FLOW needs from the LiveKit at LIVEKIT_URL.

    Credentials, the outbound trunk and its numbers, and whether MoveParticipant exists
    (LiveKit Cloud) or the flow merges in the caller's room (self-hosted). Exit 1 if
    anything fails.
    """
    from orchestrator.flow import load_flow  # the LiveKit client loads only when needed
    from orchestrator.livekit.preflight import preflight as run

    try:
        flow = load_flow(flow_path)
    except FlowError as error:
        for problem in error.problems:
            typer.echo(problem.render(error.source), err=True)
        raise typer.Exit(1) from None
    names = ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")
    url, key, secret = (os.environ.get(name, "") for name in names)
    missing = [name for name, value in zip(names, (url, key, secret), strict=True) if not value]
    if missing:
        typer.echo(f"preflight: set {', '.join(missing)} (the LiveKit to check)", err=True)
        raise typer.Exit(1)
    trunk = os.environ.get("LIVEKIT_SIP_OUTBOUND_TRUNK", "")
    configure_logging(level=logging.WARNING)  # the findings are the output, not each request
    warnings.filterwarnings("ignore", message="The HMAC key is")  # short dev keys: not ours
    checks = asyncio.run(run(flow, url, key, secret, trunk))
    for check in checks:
        typer.echo(f"{_MARK[check.status]}  {check.topic}: {check.detail}")
    failed = sum(check.status == "fail" for check in checks)
    typer.echo(f"{flow_path}: " + (f"{failed} problem(s)" if failed else "ready"))
    sys.stdout.flush()
    if failed:
        raise typer.Exit(1)
