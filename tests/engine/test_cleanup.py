"""Cleanup after the outcome: room deletion retried, and a slow cleanup never keeps the caller
on hold."""

from __future__ import annotations

import pytest

from tests.engine.conftest import run


# Found by the random-scenario fuzzer (was tests/engine/test_fuzz_regressions.py).
@pytest.mark.parametrize("code", ["deadline_exceeded", "resource_exhausted"])
async def test_a_failing_delete_room_is_retried(code: str) -> None:
    faults = [{"rpc": "RoomService.DeleteRoom", "code": code, "times": 2}]
    result, _ = await run(
        "supervisor_chain",
        {"faults": faults, "phones": {"default": {"answer": 0.0, "on_brief": "decline"}}},
    )
    assert result.outcome.reason == "exhausted"  # and run() found no room or leg left


# Found by the random-scenario fuzzer (was tests/engine/test_fuzz_regressions.py).
async def test_slow_cleanup_never_keeps_the_caller_on_hold() -> None:
    faults = [{"rpc": "RoomService.DeleteRoom", "code": "internal", "delay": 12.0}]
    result, _ = await run(
        "warm_transfer", {"faults": faults, "phones": {"default": {"answer": 26.0}}}
    )
    assert (result.outcome.reason, result.outcome.hold_seconds) == ("no_answer", 25.0)
    assert result.media.calls[-2].action == "stop_hold"  # before the slow room deletion
