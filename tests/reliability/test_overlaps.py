"""Calls the engine overlaps still land in the order the guarantees need."""

from __future__ import annotations

from typing import Any

from tests.reliability.harness import is_probe, warm
from tests.reliability.rig import Rig

UPDATE = "RoomService.UpdateParticipant"


def states(rig: Rig) -> list[str]:
    """The checkpoint states written on the caller, in the order LiveKit answered them."""
    return [
        r["request"]["attributes"].get("transfer.state", "")
        for r in rig.sandbox.requests
        if r["rpc"] == UPDATE and r["request"] and "attributes" in r["request"]
    ]


async def test_a_slow_briefing_checkpoint_lands_before_merged() -> None:
    """Every write answered 3 s late: the brief starts before `briefing` has landed (it is
    written meanwhile), and `merged` still lands after it."""
    slow = [{"rpc": UPDATE, "delay": 3.0, "times": 20}]
    scenario: dict[str, Any] = {
        "phones": {"default": {"answer": 1.0, "decide_after": 0.5}},
        "faults": slow,
    }
    async with Rig(scenario, fault="overlap-briefing-slow") as rig:
        seen_at_brief: list[list[str]] = []
        rig.on_state("brief_supervisor", lambda: seen_at_brief.append(states(rig)))
        outcome = await rig.run(warm())
        assert outcome.kind == "merged"
        assert seen_at_brief == [["requested", "held"]]  # briefing still on its way
        # `merged` stays while the call goes on; the room goes when one side hangs up.
        assert states(rig) == ["requested", "held", "briefing", "merged"]


async def test_the_consult_room_is_made_during_the_announcement() -> None:
    async with Rig(fault="overlap-consult-room") as rig:
        await rig.run(warm())
        rpcs = [r["rpc"] for r in rig.sandbox.requests if not is_probe(r["request"])]
        # Answered before the `held` checkpoint (during the announcement); dialled after both.
        created = rpcs.index("RoomService.CreateRoom")
        held = [i for i, r in enumerate(rpcs) if r == UPDATE][1]
        assert created < held < rpcs.index("SIP.CreateSIPParticipant")
