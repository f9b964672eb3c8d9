"""Who hears whom when a participant rejoins: a caller rejoining during the brief is not heard
by the supervisor."""

from __future__ import annotations

from orchestrator.engine import Transfer
from orchestrator.sandbox import Event
from tests.reliability.harness import warm
from tests.reliability.rig import Rig


def _joins(rig: Rig, transfer: Transfer, event: Event) -> None:
    """What a worker feeds besides departures and digits: joins and published tracks."""
    who = event.participant.identity if event.participant is not None else ""
    if event.kind == "participant_joined":
        transfer.participant_joined(event.room, who)
    elif event.kind == "track_published" and event.participant is not None:
        for track in event.participant.tracks:
            transfer.track_published(event.room, who, track.sid)


# A promise an attacker broke (issue 14; was tests/reliability/test_broken_promises.py).
async def test_a_caller_who_rejoins_during_the_brief_is_not_heard_by_the_supervisor() -> None:
    """`in_room`: after a caller's reconnect, the supervisor's connected leg subscribed to
    the caller's new track and heard the caller for the rest of the brief."""
    scenario = {"phones": {"default": {"answer": 2.0, "on_brief": "accept", "decide_after": 6.0}}}
    async with Rig(scenario, flavor="oss", fault="in-room-caller-rejoins-in-brief") as rig:
        transfer = await rig.start(warm())
        rig._unsubscribe.append(rig.sandbox.subscribe(lambda e: _joins(rig, transfer, e)))
        await rig.advance(4.0)
        assert transfer.state == "brief_supervisor"
        leg = rig.supervisor()
        assert leg is not None
        rig.sandbox.reconnect(rig.room, rig.callers[rig.room])
        await rig.advance(2.0)
        assert transfer.state == "brief_supervisor"
        assert not rig.sandbox.hears(rig.room, leg[1], rig.callers[rig.room])
        (outcome,) = await rig.finish()
        rig.verify()
        assert outcome.kind == "merged"
