"""Scenario test files written on the fly, against the shipped flows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOT

WARM = ROOT / "flows" / "warm_transfer.yaml"
CHAIN = ROOT / "flows" / "supervisor_chain.yaml"
SHIPPED_TESTS = ROOT / "flows" / "tests"

Write = Callable[..., Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """`write(body, name="case", flow=WARM)`: a scenario test file naming `flow`."""

    def make(body: str, name: str = "case", flow: Path = WARM) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"flow: {flow}\n{body}")
        return path

    return make
