"""The conversational brief's session (`orchestrator.agents.briefing`) with the offline
models: a real `AgentSession` whose STT hears tones as words and whose LLM answers from the
brief's facts; the audio is made here, the speech recorded."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from livekit import rtc
from livekit.agents import llm

from orchestrator.agents.briefing import briefing_instructions, caller_turns, run_briefing
from orchestrator.agents.offline import BriefingLLM, ToneSTT
from orchestrator.engine.ports import Briefing

RATE = 16000
ASK, CONNECT, DECLINE, VOICE = 700.0, 1200.0, 1300.0, 1000.0
WORDS = {ASK: "how long have they waited?", CONNECT: "connect", DECLINE: "decline"}
BRIEFING = Briefing("You have a call.", "Be brief.", "a billing dispute", "Charged twice.", 12.0)


class Track:
    """The brief's track: what was spoken on it; `spoken` is set at each sentence."""

    def __init__(self) -> None:
        self.said: list[str] = []
        self.spoken = asyncio.Event()

    async def speak(self, text: str) -> None:
        self.said.append(text.strip())
        self.spoken.set()

    async def sentences(self, count: int) -> None:
        while len(self.said) < count:
            self.spoken.clear()
            await self.spoken.wait()


class Room:
    name = "consult-1"


def tone(hz: float, seconds: float) -> list[rtc.AudioFrame]:
    frames = []
    for k in range(int(seconds * 50)):
        t = (np.arange(320) + k * 320) / RATE
        pcm = (8000 * np.sin(2 * math.pi * hz * t)).astype(np.int16)
        frames.append(rtc.AudioFrame(pcm.tobytes(), RATE, 1, 320))
    return frames


def phone(track: Track, *script: tuple[float, float] | int) -> Any:
    """The supervisor's phone: its own voice (1000 Hz), the `(hz, seconds)` tones of the
    script, and at each number the wait until the track has said that many sentences."""

    async def frames(room: Any, supervisor: str) -> AsyncIterator[rtc.AudioFrame]:
        for step in [(VOICE, 0.4), *script, (VOICE, 0.4)]:
            if isinstance(step, int):
                await track.sentences(step)
                continue
            for frame in tone(*step):
                yield frame
        await asyncio.Event().wait()  # the line stays open

    return frames


async def brief(track: Track, frames: Any) -> tuple[asyncio.Future[bool], asyncio.Future[None]]:
    decided: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    session = asyncio.ensure_future(
        run_briefing(
            Room(),  # type: ignore[arg-type]
            "supervisor-1",
            track,  # type: ignore[arg-type]
            BRIEFING,
            decided.set_result,
            llm=BriefingLLM(),
            stt=ToneSTT(WORDS),
            caller_turns=["I was charged twice"],
            frames=frames,
        )
    )
    return decided, session


async def close(session: asyncio.Future[None]) -> None:
    session.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await session


async def test_the_supervisor_asks_hears_the_answer_then_connects() -> None:
    track = Track()
    decided, session = await brief(
        track, phone(track, (ASK, 0.6), (VOICE, 0.2), 2, (CONNECT, 0.6))
    )
    assert await decided is True
    await close(session)
    assert track.said == ["You have a call.", "The caller has waited about 12 seconds."]


async def test_a_spoken_decline_declines() -> None:
    track = Track()
    decided, session = await brief(track, phone(track, 1, (DECLINE, 0.6)))
    assert await decided is False
    await close(session)
    assert track.said == ["You have a call."]


async def test_the_tone_stt_hears_only_its_tones_held_long_enough() -> None:
    listening = ToneSTT(WORDS).stream()
    script = [(VOICE, 1.0), (CONNECT, 0.1), (VOICE, 0.2), (ASK, 0.4), (VOICE, 0.2)]
    for hz, seconds in script:
        for frame in tone(hz, seconds):
            listening.push_frame(frame)
    listening.end_input()
    heard = [event.alternatives[0].text async for event in listening]
    assert heard == ["how long have they waited?"]


def test_the_instructions_carry_the_facts_and_the_callers_words_only_as_facts() -> None:
    chat = llm.ChatContext()
    chat.add_message(role="assistant", content="How can I help?")
    chat.add_message(role="user", content="I was charged twice")
    chat.add_message(role="user", content="thank you")
    turns = caller_turns(chat)
    assert turns == ["I was charged twice", "thank you"]
    text = briefing_instructions(BRIEFING, turns)
    assert "Be brief." in text
    assert "Reason: a billing dispute" in text
    assert "Waited: 12 seconds" in text
    assert "Caller said: thank you" in text


def test_the_briefing_llm_does_not_take_the_callers_thank_you_in_its_facts_for_a_yes() -> None:
    """agents-js #2221: the caller's words are facts in the instructions, never a turn."""
    chat = llm.ChatContext()
    chat.add_message(role="system", content=briefing_instructions(BRIEFING, ["yes, connect"]))
    chat.add_message(role="user", content="why are they calling?")
    assert BriefingLLM().reply(chat) == "They called about: a billing dispute."
