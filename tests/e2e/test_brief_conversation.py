"""The conversational brief (issue 25) with a real livekit-agents worker on the real stack.

The worker (`tests/e2e/harness/worker.py`) runs `examples/conversational_brief.yaml` (its
timeout shortened to 20 s here) with the offline models: the briefing session's STT hears
the supervisor's phone's tones as words (`orchestrator.agents.offline.BRIEF_WORDS`: 700 Hz
asks how long the caller waited, 1200 Hz says connect), its LLM answers from the brief's
facts, and the answer is spoken in the offline TTS's voice (1500 Hz). On this server the
merge is `in_room`: the briefing session hears only the supervisor's track and only the
supervisor may hear its own. What each phone heard is read off its RTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from orchestrator.sandbox.scenario import BriefTalk, PhoneSpec
from tests.e2e.harness.real import RealTarget
from tests.e2e.harness.targets import CALLER, SUPERVISOR
from tests.e2e.harness.workers import AGENT, ROOT, Worker

AI, ASKED, CONNECT = 1500.0, 700.0, 1200.0
QUESTION = "how long have they waited?"
TIMEOUT_S = 20


@pytest_asyncio.fixture
async def worker(real: RealTarget, stack: dict[str, str]) -> AsyncIterator[Worker]:
    text = (ROOT / "examples" / "conversational_brief.yaml").read_text()
    flow = Path(real.folder) / "conversational_brief.yaml"
    flow.write_text(text.replace("timeout: 60", f"timeout: {TIMEOUT_S}"))
    started = Worker(real.folder, stack, real.trunk, "worker-brief", WARM_TRANSFER_FLOW=str(flow))
    started.start()
    try:
        await started.registered()
        yield started
    finally:
        await asyncio.to_thread(started.stop)


def talk(then: str, *ask: str) -> PhoneSpec:
    return PhoneSpec(answer=1.0, decide_after=2.0, on_brief=BriefTalk(ask=list(ask), then=then))


async def all_hung_up(real: RealTarget) -> None:
    """Every phone to its last BYE: the supervisor's leg and the caller's."""
    assert real.carrier is not None
    (leg,) = real.carrier.invites()
    await real.until(lambda: "BYE" in real.carrier.call(leg.call_id), 15, "BYE at the supervisor")  # type: ignore[union-attr]
    assert real.carrier.live() == []


async def test_the_supervisor_asks_hears_the_answer_and_connects_by_voice(
    real: RealTarget, worker: Worker
) -> None:
    room = "brief-talk"
    await real.phones({SUPERVISOR: talk("accept", QUESTION)})
    await real.call_in(room, agent=AGENT)
    finished = await worker.wait("transfer.finished", 120)
    assert (finished["outcome"], finished["reason"]) == ("merged", None)
    assert real.carrier is not None
    assert real.caller is not None
    caller, supervisor = real.caller.heard, real.carrier.heard(SUPERVISOR)
    assert caller is not None
    assert supervisor is not None
    briefed = worker.at(await worker.wait("transfer.transition", to_state="brief_supervisor"))
    merging = worker.at(await worker.wait("transfer.transition", to_state="merge_call"))
    # The phone asked (700 Hz), then the briefing agent's voice answered at its phone; then
    # it said connect (1200 Hz) and the brief accepted: by voice, no key was pressed.
    said = [(words, start, end) for _, words, start, end in real.carrier.said]
    assert [words for words, _, _ in said] == [QUESTION, "connect"]
    ((_, answered),) = real.carrier.answers
    assert said[0][2] < answered < said[1][1]
    assert supervisor.tone(AI, since=said[0][2], until=said[1][1]) > 10  # the answer
    assert real.carrier.pressed == []
    assert [e["digit"] for e in worker.events("e2e.dtmf")] == []
    heard = worker.events("agents.briefing_heard")
    assert len(heard) == 2  # the question and the connect, and nothing else
    closed = worker.at(await worker.wait("agents.briefing_closed", 10))
    assert closed <= merging + 2.0  # closed as the brief ended, before the call went on
    # Nothing of the conversation reached the caller: neither the agent's voice nor the
    # supervisor's words (the caller heard only the hold music until the merge).
    assert caller.tone(AI, since=briefed, until=merging) == 0
    assert caller.tone(ASKED, until=merging) == 0
    assert caller.tone(CONNECT, until=merging) == 0
    assert caller.loud(since=briefed, until=merging) > 20  # the hold music went on
    # Merged; the caller hangs up: every phone to its last BYE.
    await real.hang_up_caller()
    await all_hung_up(real)
    ended = await worker.wait("transfer.call_ended", 15)
    assert (ended["hung_up_first"], ended["released"]) == ("caller", True)
    assert [c.from_user for c in real.supervisor_calls()] == [CALLER]


async def test_the_caller_hanging_up_mid_conversation_ends_it(
    real: RealTarget, worker: Worker
) -> None:
    room = "brief-gone"
    await real.phones({SUPERVISOR: talk("silent", QUESTION)})
    await real.call_in(room, agent=AGENT)
    assert real.carrier is not None
    await real.until(lambda: real.carrier.answers != [], 90, "the answer to the question")  # type: ignore[union-attr]
    await real.hang_up_caller()
    finished = await worker.wait("transfer.finished", 30)
    assert finished["outcome"] == "caller_hung_up"
    closed = await worker.wait("agents.briefing_closed", 10)
    assert worker.at(closed) <= worker.at(finished) + 1.0
    await all_hung_up(real)
    assert [c.received for c in real.supervisor_calls()] == [("INVITE", "ACK", "BYE")]
    await worker.wait("e2e.job_ended", 60)
    assert room not in await real.rooms()


async def test_a_silent_supervisor_times_the_conversation_out(
    real: RealTarget, worker: Worker
) -> None:
    room = "brief-silent"
    await real.phones({SUPERVISOR: talk("silent")})
    await real.call_in(room, agent=AGENT)
    finished = await worker.wait("transfer.finished", 120)
    assert (finished["outcome"], finished["reason"]) == ("returned", "timeout")
    briefed = worker.at(await worker.wait("transfer.transition", to_state="brief_supervisor"))
    assert TIMEOUT_S <= worker.at(finished) - briefed < TIMEOUT_S + 5
    await worker.wait("agents.briefing_closed", 10)
    assert worker.events("agents.briefing_heard") == []  # its own voice was no words
    await all_hung_up(real)
    assert [c.received for c in real.supervisor_calls()] == [("INVITE", "ACK", "BYE")]
    # The caller is back with the AI, which speaks to them again.
    assert real.caller is not None
    caller = real.caller.heard
    assert caller is not None
    await real.until(
        lambda: caller.first_tone(AI, since=worker.at(finished)) is not None,
        15,
        "the AI's voice at the caller again",
    )
    await real.hang_up_caller()
    await worker.wait("e2e.job_ended", 60)
