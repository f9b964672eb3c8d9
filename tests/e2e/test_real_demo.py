"""`make real-demo` works: run on the session's stack, as docs/real-stack.md promises it."""

from __future__ import annotations

from tests.e2e.harness.demo import FOLDER, demo


async def test_the_real_demo_runs_a_transfer_to_the_last_bye(stack: dict[str, str]) -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    assert await demo(stack) == 0
    log = (FOLDER / "worker.log").read_text()
    assert '"event": "transfer.call_ended"' in log
