"""The merge: never with a supervisor who has hung up, on either LiveKit flavour."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.sandbox import Event
from orchestrator.sandbox.core import Flavor
from tests.reliability.cases import HAPPY
from tests.reliability.harness import warm
from tests.reliability.rig import Rig

SILENT = {"phones": {"default": {"answer": 2.0, "on_brief": "silent"}}}


# A promise an attacker broke (issue 14; was tests/reliability/test_broken_promises.py).
@pytest.mark.parametrize("gap", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("flavor", ["oss", "cloud"])
async def test_no_merge_with_a_supervisor_who_hung_up(flavor: Flavor, gap: float) -> None:
    """The supervisor's `1` arrives with, or up to 0.9 s after, their hang-up (inside the
    departure's grace): `in_room` opened the paths of nobody and reported `merged`, and the
    AI left the caller alone."""
    async with Rig(SILENT, flavor=flavor, fault=f"merge-after-hang-up-{flavor}-{gap}") as rig:
        transfer = await rig.start(warm())
        await rig.advance(3.0)  # answered at 2 s, briefing
        assert transfer.state == "brief_supervisor"
        leg = rig.supervisor()
        assert leg is not None
        rig.supervisor_hangs_up()
        rig.at(gap, lambda: transfer.dtmf(leg[0], leg[1], "1"))
        (outcome,) = await rig.finish()
        rig.verify()
        assert (outcome.kind, outcome.reason) == ("returned", "supervisor_left")
        assert "agent_leave" not in [call.action for call in rig.media.calls]


# A promise an attacker broke again (issue 20; was tests/reliability/test_in_flight_promises.py).
async def test_a_supervisor_who_hangs_up_as_the_move_lands_is_not_merged() -> None:
    """The supervisor hangs up right after the move put them in the caller's room, before
    its answer is back: the caller gets the AI back, not an empty call."""
    async with Rig(HAPPY, fault="hang-up-as-the-move-lands") as rig:
        transfer = await rig.start(warm())

        def landed(event: Event) -> None:
            who = event.participant.identity if event.participant is not None else ""
            joined = event.kind == "participant_joined" and event.room == rig.room
            if joined and who and who == transfer.supervisor:
                asyncio.get_running_loop().call_soon(rig.sandbox.hang_up, rig.room, who)

        rig._unsubscribe.append(rig.sandbox.subscribe(landed))
        (outcome,) = await rig.finish()
        rig.verify()
        assert (outcome.kind, outcome.reason) == ("returned", "supervisor_left")
        assert "agent_leave" not in [call.action for call in rig.media.calls]
