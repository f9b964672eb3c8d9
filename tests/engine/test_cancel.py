"""Cancelling a transfer, at any moment and more than once."""

from __future__ import annotations

import asyncio

from orchestrator import TransferEngine
from orchestrator.sandbox import Sandbox
from orchestrator.simulate import drive
from orchestrator.testing import RecordingMedia
from tests.engine.conftest import flow


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


async def test_cancel_cleans_up(rig: tuple[Sandbox, TransferEngine, RecordingMedia]) -> None:
    sandbox, engine, media = rig
    transfer = await engine.start(flow("warm_transfer"), room="call-1")
    transfer.add_listener(lambda _, to, __: to == "dial_supervisor" and transfer.cancel())
    # The dial may be out already (the consult room was made during the hold): cleanup
    # waits for its answer, which comes in simulated time.
    await drive(sandbox, engine, transfer.outcome)
    outcome = await transfer.outcome
    assert (outcome.kind, outcome.reason) == ("failed", "cancelled")
    assert media.holding == set()
    assert [r for r in sandbox.world.rooms if r != "call-1"] == []
    assert engine.active == {}
