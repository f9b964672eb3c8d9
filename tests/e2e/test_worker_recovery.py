"""Crash recovery for real: the worker running a transfer dies (SIGKILL to it and its job
processes: no drain, no cleanup) while the supervisor rings, during the brief, or after the
merge; a new job in the room (`WarmTransfer.recover()`) finishes or unwinds the transfer, and
the caller's call stays up throughout.

The open-source server does not dispatch a job again when its worker dies (restart policies
are LiveKit Cloud's), so the test does what a self-hosted deployment has to: it dispatches the
agent to the room again (`CreateDispatch`), to a freshly started worker.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from livekit import api

from orchestrator.sandbox.scenario import PhoneSpec
from tests.e2e.harness.real import RealTarget
from tests.e2e.harness.targets import CALLER_ID, SUPERVISOR
from tests.e2e.harness.workers import AGENT, Worker

AI = 1500.0
PHASES: dict[str, tuple[PhoneSpec, dict[str, Any], str]] = {
    # phase: (the supervisor's phone, what the worker logs once there, the recovered outcome)
    "ringing": (PhoneSpec(answer="no_answer"), {}, "returned"),
    "briefing": (
        PhoneSpec(answer=1.0, on_brief="silent"),
        {"event": "transfer.transition", "to_state": "brief_supervisor"},
        "returned",
    ),
    "merged": (
        PhoneSpec(answer=1.0, on_brief="accept", decide_after=2.0),
        {"event": "e2e.stalled_after_merge"},
        "merged",
    ),
}


async def _reached(real: RealTarget, worker: Worker, phase: str) -> None:
    _, logged, _ = PHASES[phase]
    if phase == "ringing":
        await real.until(
            lambda: [c.received for c in real.supervisor_calls()] == [("INVITE",)],
            60,
            "the supervisor's phone ringing",
        )
        return
    fields = dict(logged)
    await worker.wait(fields.pop("event"), 60, **fields)


async def _caller_attributes(real: RealTarget, room: str) -> dict[str, str]:
    who = api.RoomParticipantIdentity(room=room, identity=CALLER_ID)
    return dict((await real.lk.room.get_participant(who)).attributes)


@pytest.mark.parametrize("phase", sorted(PHASES))
async def test_a_dead_worker_is_recovered(
    real: RealTarget, stack: dict[str, str], phase: str
) -> None:
    room = f"recover-{phase}"
    phone, _, expected = PHASES[phase]
    stall = {"E2E_STALL_AFTER_MERGE": "1"} if phase == "merged" else {}
    first = Worker(real.folder, stack, real.trunk, "first", **stall)
    second = Worker(real.folder, stack, real.trunk, "second")
    try:
        first.start()
        await first.registered()
        await real.phones({SUPERVISOR: phone})
        await real.call_in(room, agent=AGENT)
        await _reached(real, first, phase)
        assert (await _caller_attributes(real, room)).get("transfer.state")
        first.kill()
        second.start()
        await second.registered()
        await real.lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name=AGENT, room=room)
        )
        recovered = await second.wait("e2e.recovered", 60)
        assert recovered["outcome"] == expected
        await _after(real, second, room, phase)
    finally:
        await asyncio.to_thread(first.stop)
        await asyncio.to_thread(second.stop)


async def _after(real: RealTarget, second: Worker, room: str, phase: str) -> None:
    assert real.caller is not None
    assert real.carrier is not None
    if phase == "merged":
        # The supervisor stays with the caller; the new job starts no session and follows
        # their call until one of them hangs up, then the other's phone gets BYE.
        assert [c.received for c in real.supervisor_calls()] == [("INVITE", "ACK")]
        assert real.carrier.live() != []
        assert (await _caller_attributes(real, room)).get("transfer.state") == "merged"
        await real.hang_up_supervisor()
        await real.until(lambda: "BYE" in real.caller_received(), 5, "the caller's BYE")
        ended = await second.wait("transfer.call_ended", 10)
        assert (ended["hung_up_first"], ended["released"]) == ("supervisor", True)
        await second.wait("e2e.job_ended", 30)
        return
    # The dead transfer's leg is ended (CANCEL while ringing, BYE once answered); the new
    # job's AI speaks to the caller again.
    leg_end = ("INVITE", "CANCEL") if phase == "ringing" else ("INVITE", "ACK", "BYE")
    await real.until(
        lambda: [c.received for c in real.supervisor_calls()] == [leg_end], 20, "the leg ended"
    )
    back = second.at(await second.wait("e2e.recovered"))
    await asyncio.sleep(3.0)
    heard = real.caller.heard
    assert heard is not None
    assert heard.tone(AI, since=back) > 20
    attributes = await _caller_attributes(real, room)
    assert not [key for key in attributes if key.startswith("transfer.")], "checkpoint left"
    # The caller's call stayed up throughout.
    assert real.caller.sipp is not None
    assert real.caller.sipp.running()
    assert "BYE" not in real.caller_received()
