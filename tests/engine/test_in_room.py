"""The `in_room` merge (no MoveParticipant): who hears whom while the supervisor rings, is
briefed and is merged."""

from __future__ import annotations

import asyncio

from orchestrator.simulate import drive
from tests.engine.conftest import CALLER_IDENTITY as CALLER, flow, live


# Seen on the real stack (was tests/engine/test_real_stack_findings.py).
async def test_in_room_cuts_the_caller_off_when_the_supervisor_track_appears() -> None:
    """`test_outbound_leg_lifecycle` and the real merge: the bridge publishes the
    supervisor's track after the leg joined (while it rings), and the caller's bridge
    subscribes to it. The cut at the join found no track and the answer did not cut again,
    so the caller heard the supervisor during the brief."""
    scenario = {"phones": {"default": {"answer": 2.0, "on_brief": "silent"}}}
    async with live(scenario, flavor="oss") as (sandbox, engine, _):
        transfer = await engine.start(flow("warm_transfer"), room="call-1")
        answered = asyncio.get_running_loop().create_future()

        def on_transition(_: str, to_state: str, __: str) -> None:
            if to_state == "brief_supervisor" and not answered.done():
                answered.set_result(transfer.supervisor)

        transfer.add_listener(on_transition)
        await drive(sandbox, engine, answered)
        supervisor = answered.result()
        assert not sandbox.hears("call-1", CALLER, supervisor)
        cuts = [
            r
            for r in sandbox.requests
            if r["rpc"] == "RoomService.UpdateSubscriptions" and r["request"]["identity"] == CALLER
        ]
        assert len(cuts) == 2  # when the track was published, and again at the answer
        transfer.cancel()
        await drive(sandbox, engine, transfer.outcome)
