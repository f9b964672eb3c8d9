"""`examples/warm_transfer_agent.py` starts with nothing configured, and refuses a bad flow
with a message, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.agents.conftest import ROOT

EXAMPLE = ROOT / "examples" / "warm_transfer_agent.py"


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # A clean environment: no LIVEKIT_* credentials, no proxy, nothing of the developer's.
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", ""), **env}
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        capture_output=True,
        text=True,
        env=clean,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_help_works_without_credentials_or_network() -> None:
    done = run("--help")
    assert done.returncode == 0, done.stderr
    for command in ("console", "dev", "start"):
        assert command in done.stdout
    assert "Traceback" not in done.stderr


def test_a_bad_flow_is_refused_clearly() -> None:
    done = run("start", WARM_TRANSFER_FLOW=str(ROOT / "README.md"))
    assert done.returncode == 2
    assert "README.md:" in done.stderr
    assert "Set WARM_TRANSFER_FLOW" in done.stderr
    assert "Traceback" not in done.stderr
