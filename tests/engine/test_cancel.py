"""Cancelling a transfer, at any moment and more than once."""

from __future__ import annotations

import asyncio


# Found by the random-scenario fuzzer (was tests/engine/test_fuzz_regressions.py).
async def test_cancel_right_after_start_and_again_during_cleanup() -> None:
    from orchestrator.simulate import drive
    from tests.engine.conftest import flow, live

    faults = [{"rpc": "RoomService.UpdateParticipant", "delay": 1.0, "times": 5}]
    async with live({"faults": faults}) as (sandbox, engine, _):
        starting = asyncio.ensure_future(engine.start(flow("warm_transfer"), room="call-1"))
        await drive(sandbox, engine, starting)  # its claim on the caller is delayed too
        transfer = starting.result()
        transfer.cancel()
        transfer._task.cancel()  # a worker shutting down cancels the task itself, too
        await drive(sandbox, engine, transfer.outcome)
        outcome = await transfer.outcome
        assert (outcome.kind, outcome.reason) == ("failed", "cancelled")
        assert engine.active == {}
