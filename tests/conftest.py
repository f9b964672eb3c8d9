"""Shared helpers: the repository's flow files, a way to collect a flow's problems, and a
designer's edits of a watched flow file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from orchestrator import FlowError, load_flow

ROOT = Path(__file__).resolve().parent.parent
FLOWS = sorted((ROOT / "flows").glob("*.yaml"))
HOSTILE = ROOT / "tests" / "flows" / "hostile"
BASE = (HOSTILE / "base.yaml.ok").read_text()
WARM_TRANSFER = (ROOT / "flows" / "warm_transfer.yaml").read_text()


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


def save(path: Path, text: str) -> None:
    """Write `text` and move the file's modification time on, as an editor's save does (a
    fixed step: two saves within one tick of the file system's clock are not told apart)."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    """A copy of flows/warm_transfer.yaml for a test to edit."""
    path = tmp_path / "warm_transfer.yaml"
    save(path, WARM_TRANSFER)
    return path


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The captured log entries of one event."""
    return [e for e in logs if e["event"] == name]
