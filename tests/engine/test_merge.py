"""The merge: moving the caller to the supervisor, and what a move outliving the call leaves."""

from __future__ import annotations

from tests.engine.conftest import run


# Found by the random-scenario fuzzer (was tests/engine/test_fuzz_regressions.py).
async def test_a_move_that_outlives_the_caller_leaves_no_task() -> None:
    faults = [
        {
            "rpc": "RoomService.MoveParticipant",
            "code": "deadline_exceeded",
            "times": 3,
            "delay": 200.0,
        }
    ]
    scenario = {
        "caller": {"hangup_after": 2.5},
        "faults": faults,
        "phones": {"default": {"answer": 1.0, "decide_after": 0.2}},
    }
    result, _ = await run("supervisor_chain", scenario)  # run() asserts no task is left
    assert result.outcome.kind == "caller_hung_up"
