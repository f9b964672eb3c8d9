"""`orchestrator graph --format svg` with Graphviz's real `dot` (installed by `python -m stack
build` through APT_PACKAGES): every shipped flow is drawn, the SVG parses, and every step's
name is in it. `make test` cannot count on `dot` being installed; `make e2e` can."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from orchestrator import load_flow

ROOT = Path(__file__).resolve().parent.parent.parent
FLOWS = sorted((ROOT / "flows").glob("*.yaml"))
SVG = "{http://www.w3.org/2000/svg}"


def test_graphviz_is_installed_by_the_stack_build() -> None:
    assert shutil.which("dot") is not None, "`python -m stack build` installs graphviz"


@pytest.mark.parametrize("path", FLOWS, ids=[path.stem for path in FLOWS])
def test_every_step_is_drawn_in_the_svg(path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "graph", "--format", "svg", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    root = ElementTree.fromstring(done.stdout[done.stdout.index("<svg") :])
    assert root.tag == f"{SVG}svg"
    texts = " ".join(node.text or "" for node in root.iter(f"{SVG}text"))
    for step in load_flow(path).steps:
        assert step in texts, f"step {step!r} is not drawn"
