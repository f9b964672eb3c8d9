"""The conversational brief's session: a second `AgentSession`, for the supervisor only.

It has no room I/O of its own, so nothing of it can reach the caller: it hears the
supervisor's audio track alone (through its own STT stream; the caller's words never reach
it, and the caller's session never hears the supervisor's), its replies are spoken on the
brief's track (`AgentMedia` publishes it where only the supervisor may subscribe), and its
`accept` and `decline` tools are the only way its words can decide. It runs until cancelled
and then closes at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import structlog
from livekit import rtc
from livekit.agents import Agent, AgentSession, function_tool, llm, stt

from orchestrator.agents.speech import BriefTrack
from orchestrator.engine.ports import Briefing

__all__ = [
    "CLOSE_S",
    "Frames",
    "briefing_instructions",
    "caller_turns",
    "run_briefing",
    "supervisor_frames",
]

CLOSE_S = 3.0  # the session's close is bounded: the engine waits for it
_TURNS = 3
_log = structlog.get_logger("orchestrator.agents")

_ROLE = (
    "You brief a supervisor about a caller who waits on hold for them. You speak with the "
    "supervisor only; the caller cannot hear you. Answer their questions from the facts "
    "below, briefly, and never invent any. Call accept when they say to connect or put the "
    "caller through; call decline when they refuse. Say nothing after either."
)


def caller_turns(chat: llm.ChatContext, limit: int = _TURNS) -> list[str]:
    """The caller's last turns of the AI's own chat (what the supervisor may ask about)."""
    said = [
        item.text_content or ""
        for item in chat.items
        if item.type == "message" and item.role == "user" and item.text_content
    ]
    return said[-limit:]


def briefing_instructions(briefing: Briefing, turns: list[str]) -> str:
    lines = [_ROLE]
    if briefing.instructions:
        lines.append(briefing.instructions)
    lines += [
        "Facts:",
        f"Reason: {briefing.reason or 'not given'}",
        f"Summary: {briefing.summary or 'none'}",
        f"Waited: {round(briefing.waited_s)} seconds",
        *(f"Caller said: {turn}" for turn in turns),
    ]
    return "\n".join(lines)


def _tools(decide: Callable[[bool], None]) -> list[Any]:
    async def accept() -> str:
        """Connect the caller with the supervisor: they said to connect or put them through."""
        decide(True)
        return "Connected."

    async def decline() -> str:
        """Do not connect: the supervisor said they cannot take the call."""
        decide(False)
        return "Declined."

    return [function_tool(accept, name="accept"), function_tool(decline, name="decline")]


async def _supervisor_audio(room: rtc.Room, supervisor: str) -> rtc.RemoteAudioTrack:
    """The supervisor's audio track, subscribed (a consult room's connection subscribes to
    nothing by itself); waits until it is published."""
    while True:
        participant = room.remote_participants.get(supervisor)
        for publication in participant.track_publications.values() if participant else []:
            if publication.kind != rtc.TrackKind.KIND_AUDIO:
                continue
            if isinstance(publication.track, rtc.RemoteAudioTrack):
                return publication.track
            if isinstance(publication, rtc.RemoteTrackPublication):
                publication.set_subscribed(True)
        await asyncio.sleep(0.1)


Frames = Callable[[rtc.Room, str], AsyncIterator[rtc.AudioFrame]]
"""`frames(room, supervisor)`: the supervisor's audio, 16 kHz mono."""


async def supervisor_frames(room: rtc.Room, supervisor: str) -> AsyncIterator[rtc.AudioFrame]:
    audio = await _supervisor_audio(room, supervisor)
    stream = rtc.AudioStream.from_track(track=audio, sample_rate=16000, num_channels=1)
    try:
        async for event in stream:
            yield event.frame
    finally:
        with contextlib.suppress(Exception):
            await stream.aclose()


async def run_briefing(
    room: rtc.Room,
    supervisor: str,
    track: BriefTrack,
    briefing: Briefing,
    decide: Callable[[bool], None],
    *,
    llm: llm.LLM[Any],
    stt: stt.STT[Any],
    caller_turns: list[str],
    frames: Frames = supervisor_frames,
) -> None:
    """Talk with `supervisor` in `room` on `track` until cancelled."""
    log = _log.bind(room=room.name)
    session: AgentSession[None] = AgentSession(llm=llm)
    replies: asyncio.Queue[str] = asyncio.Queue()

    def added(event: Any) -> None:
        item = event.item
        if getattr(item, "role", None) == "assistant" and item.text_content:
            replies.put_nowait(item.text_content)

    session.on("conversation_item_added", added)
    agent = Agent(instructions=briefing_instructions(briefing, caller_turns), tools=_tools(decide))
    # Not the job's primary session (the caller's is): no recording, no remote host.
    await session.start(agent, record=False, session_host=False)
    tasks: list[asyncio.Future[None]] = []
    try:
        log.info("agents.briefing_started")
        await track.speak(briefing.opening)
        heard = frames(room, supervisor)
        tasks.append(asyncio.ensure_future(_listen(heard, session, stt, log)))
        while True:
            await track.speak(await replies.get())
            log.info("agents.briefing_answered")
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_S):
                await session.aclose()
        log.info("agents.briefing_closed")


async def _listen(
    frames: AsyncIterator[rtc.AudioFrame], session: AgentSession[None], stt: stt.STT[Any], log: Any
) -> None:
    """The supervisor's words, and only theirs, become the session's user turns."""
    listening = stt.stream()

    async def feed() -> None:
        async for frame in frames:
            listening.push_frame(frame)
        listening.end_input()

    feeding = asyncio.ensure_future(feed())
    try:
        async for event in listening:
            if event.type != "final_transcript" or not event.alternatives:
                continue
            text = event.alternatives[0].text.strip()
            if text:
                log.info("agents.briefing_heard")  # not the words: they may hold PII
                session.generate_reply(user_input=text)
    finally:
        feeding.cancel()
        with contextlib.suppress(BaseException):
            await feeding
        with contextlib.suppress(Exception):
            await listening.aclose()
