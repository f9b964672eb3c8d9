"""Shared helpers: the repository's flow files and a way to collect a flow's problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator import FlowError, load_flow

ROOT = Path(__file__).resolve().parent.parent
FLOWS = sorted((ROOT / "flows").glob("*.yaml"))
HOSTILE = ROOT / "tests" / "flows" / "hostile"
BASE = (HOSTILE / "base.yaml.ok").read_text()


def problems_of(text: str) -> list[str]:
    """Every problem of an inline flow as `LINE:COL: message`; empty when it loads."""
    try:
        load_flow(text)
    except FlowError as exc:
        return [f"{p.line}:{p.column}: {p.message}" for p in exc.problems]
    return []


@pytest.fixture(params=FLOWS, ids=[f.stem for f in FLOWS])
def shipped_flow(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    return path
