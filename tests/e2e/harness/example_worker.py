"""The example worker (`examples/warm_transfer_agent.py`), its own code, always available.

    python tests/e2e/harness/example_worker.py start

livekit-agents reports a worker's load as the machine's CPU use, and then LiveKit sends no
job to a worker at a load of 1 (`start` also refuses jobs over 0.7): this shared 2-core test
machine mostly is there, so a second call would find no worker. Like the e2e worker
(`worker.py`), this one reports no load; everything else is the example's module, imported
(`examples/` on the path, for its job processes too) and run as its `__main__` does.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "examples"))

import warm_transfer_agent as example
from livekit.agents import cli

if __name__ == "__main__":
    example.server.load_fnc = lambda: 0.0
    example.check_flow()
    cli.run_app(example.server)
