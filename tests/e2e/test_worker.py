"""A real agent worker end to end: `WarmTransfer` in a livekit-agents worker on the real stack.

The worker (`tests/e2e/harness/worker.py`, a subprocess registered with livekit-server) is
dispatched by the caller's dispatch rule; it greets the caller with the offline TTS (a 1500 Hz
tone per word), then its scripted LLM calls the transfer tool and `flows/warm_transfer.yaml`
runs with the `in_room` merge. What each side heard is read off the phones' RTP: the caller's
phone sends a 440 Hz tone, the supervisor's 1000 Hz, the AI speaks at 1500 Hz, and the hold
music is music.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest_asyncio
from livekit import api

from orchestrator.sandbox.scenario import PhoneSpec
from tests.e2e.harness.figures import FIGURES
from tests.e2e.harness.real import RealTarget
from tests.e2e.harness.rtp import Heard
from tests.e2e.harness.targets import CALLER, CALLER_ID, SUPERVISOR
from tests.e2e.harness.workers import AGENT, Worker

AI, CALLER_HZ, SUPERVISOR_HZ = 1500.0, 440.0, 1000.0


@pytest_asyncio.fixture
async def worker(real: RealTarget, stack: dict[str, str]) -> AsyncIterator[Worker]:
    started = Worker(real.folder, stack, real.trunk, "worker")
    started.start()
    try:
        await started.registered()
        yield started
    finally:
        await asyncio.to_thread(started.stop)


async def people(real: RealTarget, room: str) -> list[str]:
    listing = await real.lk.room.list_participants(api.ListParticipantsRequest(room=room))
    return sorted(p.identity for p in listing.participants)


async def settle(seconds: float = 2.0) -> None:
    """Let `seconds` of audio reach the phones (their RTP is what is being checked)."""
    await asyncio.sleep(seconds)


def heard(real: RealTarget) -> tuple[Heard, Heard]:
    assert real.caller is not None
    assert real.carrier is not None
    caller, supervisor = real.caller.heard, real.carrier.heard(SUPERVISOR)
    assert caller is not None
    assert supervisor is not None
    return caller, supervisor


def path(verified: bool) -> bool:
    """One audio path between two phones through LiveKit, seen in the RTP (figures)."""
    FIGURES.rtp_paths_verified += int(verified)
    return verified


async def test_the_worker_transfers_the_caller(real: RealTarget, worker: Worker) -> None:
    room = "worker-merge"
    await real.phones({SUPERVISOR: PhoneSpec(answer=1.0, on_brief="accept", decide_after=3.0)})
    await real.call_in(room, agent=AGENT)
    finished = await worker.wait("transfer.finished", 90)
    assert (finished["outcome"], finished["reason"]) == ("merged", None)
    caller, supervisor = heard(real)
    # The engine asked LiveKit what it allows while the AI greeted (the probe takes 3 s on
    # this server), so the transfer started as soon as the LLM called the tool.
    started = worker.at(await worker.wait("transfer.started"))
    probe = [e for e in worker.events("livekit.request") if e["rpc"].endswith("MoveParticipant")]
    asked = [worker.at(e) for e in worker.events("e2e.agent_state") if e["state"] == "thinking"]
    tool_called = max(at for at in asked if at < started)
    assert worker.at(probe[0]) - probe[0]["duration_ms"] / 1000 < tool_called  # sent before
    assert started - tool_called < 1.0
    held = worker.at(await worker.wait("e2e.io", listening=False, speaking=False))
    briefed = worker.at(await worker.wait("transfer.transition", to_state="brief_supervisor"))
    merging = worker.at(await worker.wait("transfer.transition", to_state="merge_call"))
    merged = worker.at(finished)
    await settle()
    # The greeting reached the caller; on hold, the AI neither listened nor spoke (the
    # session's own input and output were off, and no AI speech reached the phone) while
    # the hold music did.
    assert caller.tone(AI, until=held) > 20
    assert caller.tone(AI, since=held + 0.5, until=merging) == 0
    music = caller.loud(since=held + 0.5, until=merging)  # (it fades in: the whole hold)
    assert path(music > 20)
    # The supervisor's phone saw the caller's number and heard the brief, which the caller
    # did not; its "1" reached the worker as a real sip_dtmf_received.
    assert [c.from_user for c in real.supervisor_calls()] == [CALLER]
    FIGURES.invites([CALLER], CALLER)
    assert path(supervisor.tone(AI, since=briefed, until=merging) > 20)
    (digit,) = worker.events("e2e.dtmf")
    assert digit["digit"] == "1"
    assert digit["participant"].startswith("supervisor-")
    # Merged: each hears the other through LiveKit.
    assert path(caller.tone(SUPERVISOR_HZ, since=merged) > 20)
    assert path(supervisor.tone(CALLER_HZ, since=merged) > 20)
    # The AI's session closed; the job stays, publishing nothing, and follows the call.
    await worker.wait("e2e.session_closed")
    (leg,) = [p for p in await people(real, room) if p.startswith("supervisor-")]
    (agent,) = [p for p in await people(real, room) if p.startswith("agent-")]
    assert await people(real, room) == sorted([CALLER_ID, agent, leg])
    assert not await real.subscribed(room, CALLER_ID, agent)
    assert not await real.subscribed(room, leg, agent)
    await settle()
    assert real.carrier is not None
    assert real.carrier.live() != []
    assert real.caller is not None
    assert real.caller.sipp is not None
    assert real.caller.sipp.running()
    assert "BYE" not in real.caller_received()
    assert worker.events("e2e.job_ended") == []
    # The caller hangs up: the supervisor's phone gets BYE, and the job ends with the call.
    await real.hang_up_caller()
    call = real.carrier.invites()[-1].call_id
    await real.until(lambda: "BYE" in real.carrier.call(call), 5, "the supervisor's BYE")
    hung_up, released = real.caller.when("BYE", received=False), real.carrier.when(call, "BYE")
    assert hung_up is not None
    assert released is not None
    FIGURES.after_merge(released - hung_up)
    assert released - hung_up <= 2.0
    ended = await worker.wait("transfer.call_ended", 10)
    assert (ended["hung_up_first"], ended["released"]) == ("caller", True)
    await worker.wait("e2e.job_ended", 30)
    assert room not in await real.rooms()


async def test_a_supervisor_who_declines_gives_the_caller_back(
    real: RealTarget, worker: Worker
) -> None:
    room = "worker-decline"
    await real.phones({SUPERVISOR: PhoneSpec(answer=1.0, on_brief="decline", decide_after=3.0)})
    await real.call_in(room, agent=AGENT)
    finished = await worker.wait("transfer.finished", 90)
    assert (finished["outcome"], finished["reason"]) == ("returned", "declined")
    back = worker.at(finished)
    await settle(4.0)
    # The supervisor's phone got BYE before the caller heard the AI's first word again
    # (Unix times on the wire; the caller's RTP clock is monotonic, shifted to Unix time).
    assert real.carrier is not None
    ((_, digit, pressed),) = real.carrier.pressed
    (leg,) = real.carrier.invites()
    released = real.carrier.when(leg.call_id, "BYE")
    caller, _ = heard(real)
    word = caller.first_tone(AI, since=pressed - time.time() + time.monotonic())
    assert digit == "2"
    assert released is not None
    assert word is not None
    spoke = word - time.monotonic() + time.time()
    FIGURES.decline(released - pressed, spoke - pressed)
    assert released < spoke
    # The session listens and speaks again after the hold (its own input and output).
    io = [(e["listening"], e["speaking"]) for e in worker.events("e2e.io")]
    assert io[io.index((False, False)) :][-1] == (True, True)
    assert caller.tone(AI, since=back) > 20  # the AI speaks to the caller again
    assert [c.received for c in real.supervisor_calls()] == [("INVITE", "ACK", "BYE")]
    others = [p for p in await people(real, room) if p != CALLER_ID]
    assert len(others) == 1  # the AI, and no supervisor leg
    assert others[0].startswith("agent-")


async def test_the_caller_hanging_up_on_hold_ends_the_job(
    real: RealTarget, worker: Worker
) -> None:
    room = "worker-gone"
    await real.phones({SUPERVISOR: PhoneSpec(answer="no_answer")})
    await real.call_in(room, agent=AGENT)
    await real.until(
        lambda: [c.received for c in real.supervisor_calls()] == [("INVITE",)],
        60,
        "the supervisor's phone ringing",
    )
    await real.hang_up_caller()
    finished = await worker.wait("transfer.finished", 30)
    assert finished["outcome"] == "caller_hung_up"
    await real.until(
        lambda: [c.received for c in real.supervisor_calls()] == [("INVITE", "CANCEL")],
        10,
        "CANCEL at the supervisor's phone",
    )
    await worker.wait("e2e.job_ended", 60)  # the room emptied, the job ended
    assert await people(real, room) == []
