"""Agent worker processes for the end-to-end tests, run as users run theirs.

`Worker` starts `python tests/e2e/harness/worker.py start` against the real stack (it registers for
explicit dispatch under an agent name), waits until LiveKit has registered it, reads the JSON
events its jobs log, and stops it (or kills it, for the crash tests). Its processes die with
the test session.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from stack.run import DIE_WITH_PARENT
from tests.e2e.harness.deadline import until

__all__ = ["AGENT", "Worker"]

ROOT = Path(__file__).resolve().parents[3]
AGENT = "e2e-warm-transfer"
Event = dict[str, Any]


class Worker:
    def __init__(
        self,
        folder: Path,
        env: dict[str, str],
        trunk: str,
        name: str,
        *,
        script: str = "tests/e2e/harness/worker.py",
        **options: str,
    ) -> None:
        """`options` are more environment variables; `script` is the worker's file."""
        self.name, self.script = name, script
        self.log = folder / f"{name}.log"
        self.events_file = folder / f"{name}.events.jsonl"
        self.env = {
            **os.environ,
            "LIVEKIT_URL": env["LIVEKIT_URL"],
            "LIVEKIT_API_KEY": env["LIVEKIT_API_KEY"],
            "LIVEKIT_API_SECRET": env["LIVEKIT_API_SECRET"],
            "LIVEKIT_SIP_OUTBOUND_TRUNK": trunk,
            "E2E_AGENT_NAME": AGENT,
            "E2E_WORKER_EVENTS": str(self.events_file),
            "WARM_TRANSFER_FLOW": str(ROOT / "flows" / "warm_transfer.yaml"),
            "LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE": "0",  # no turn-detector model to load
            "PYTHONPATH": str(ROOT),
            **options,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [*DIE_WITH_PARENT, sys.executable, self.script, "start"]
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its job processes go with it
            )

    async def registered(self) -> None:
        """Once LiveKit has registered it (its log says so)."""
        await until(lambda: "registered worker" in self.log.read_text(), 60, f"{self.name} up")

    def events(self, name: str | None = None) -> list[Event]:
        """What its jobs logged, in order (optionally one event name only)."""
        try:
            lines = self.events_file.read_text().splitlines()
        except FileNotFoundError:
            return []
        found = []
        for line in lines:
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if name is None or event.get("event") == name:
                    found.append(event)
        return found

    async def wait(self, name: str, seconds: float = 60, **fields: Any) -> Event:
        """The first event `name` whose fields match, once logged."""

        def match() -> Event | None:
            for event in self.events(name):
                if all(event.get(key) == value for key, value in fields.items()):
                    return event
            return None

        await until(lambda: match() is not None, seconds, f"{self.name}: {name} {fields}")
        found = match()
        assert found is not None
        return found

    def kill(self) -> None:
        """SIGKILL to the worker and its job processes, as a machine that dies: no drain, no
        cleanup, no goodbye to LiveKit."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def at(self, event: Event) -> float:
        """An event's time on this machine's monotonic clock (the phones' clock)."""
        logged = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
        return logged - (time.time() - time.monotonic())

    def stop(self) -> None:
        """The worker and every process of its session, however it is."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # drain: jobs end, then the worker
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # its job processes
