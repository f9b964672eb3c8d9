"""Many transfers in flight in one engine, phones ringing long: none is lost to the client.

A dial with `wait_until_answered` holds its HTTP connection while the phone rings. With one
pool of 100 connections (aiohttp's default), the 101st transfer's requests wait for a
connection until some phone answers, and time out. Simulated time stands still here while
every phone rings, so what must be true is checked without a clock: every dial has reached
the server, and another request is answered, before any phone answers.
"""

from __future__ import annotations

import asyncio

from tests.reliability.harness import warm
from tests.reliability.rig import Rig

IN_FLIGHT = 300
RING_S = 20.0


async def test_every_transfer_merges_with_hundreds_ringing() -> None:
    scenario = {"phones": {"default": {"answer": RING_S, "decide_after": 0.5}}}
    async with Rig(scenario, fault="many-in-flight-long-rings") as rig:
        flow = warm()
        rooms = [f"call-{n}" for n in range(IN_FLIGHT)]
        for room in rooms:
            rig.add_caller(room)
        for room in rooms:
            await rig.start(flow, room=room)
        await rig.advance(RING_S / 2)  # held, announced, dialled: every phone rings now

        assert {t.state for t in rig.transfers} == {"dial_supervisor"}
        assert all(t.dialing is not None for t in rig.transfers)  # nobody has answered yet
        # Every dial is at the server, ringing: none waits in the client for a connection.
        assert len(rig.sandbox.core.requests) == IN_FLIGHT
        log = rig.engine._log.bind(transfer_id="", flow="")
        asking = asyncio.ensure_future(rig.engine.gateway.list_participants(log, rooms[0]))
        await rig.settle()  # loop passes only: simulated time does not move
        assert asking.done(), "a short request waited behind the ringing dials"
        assert [p.identity for p in asking.result()][:1] == [rig.callers[rooms[0]]]

        outcomes = await rig.finish()
        assert [o.kind for o in outcomes] == ["merged"] * IN_FLIGHT
        rig.verify()
