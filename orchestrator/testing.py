"""Test doubles shipped with the library (like httpx's MockTransport).

`RecordingMedia` stands in for the agent worker's media side: it records what the engine asked
for (hold on and off, what was said to whom) and answers the engine's questions, so transfers
can run in tests and simulations without audio. `brief_answer` is the offline briefing agent's
policy: a conversational brief's answers from the call's facts, with no model (the worker's
offline LLM, `orchestrator.agents.offline.BriefingLLM`, answers the same way).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from orchestrator.engine.ports import Briefing

__all__ = [
    "SPEAKING_RATE",
    "BriefTurns",
    "MediaCall",
    "RecordingMedia",
    "brief_answer",
    "brief_decision",
]

SPEAKING_RATE = 15.0
"""Characters a second a simulated conversation's turn is said at (about 150 words a
minute): its questions and answers take time, so a brief's `timeout` can end it."""

_ACCEPT = ("connect", "accept", "put them through", "put me through", "yes")
_DECLINE = ("decline", "not now", "can't take", "cannot take", "no")


def brief_decision(said: str) -> bool | None:
    """True: the supervisor said to connect; False: to decline; None: neither."""
    words = " ".join(said.lower().replace(",", " ").replace(".", " ").split())
    padded = f" {words} "
    if any(f" {phrase} " in padded for phrase in _DECLINE):
        return False
    if any(f" {phrase} " in padded for phrase in _ACCEPT):
        return True
    return None


def brief_answer(question: str, briefing: Briefing, caller_turns: list[str] | None = None) -> str:
    """The answer to a supervisor's question from what the brief knows, and nothing else."""
    asked = question.lower()
    if "wait" in asked or "how long" in asked:
        waited = round(briefing.waited_s)
        return f"The caller has waited about {waited} second{'' if waited == 1 else 's'}."
    if "said" in asked or "say" in asked or "words" in asked:
        last = (caller_turns or [])[-1:]
        return f'The caller said: "{last[0]}".' if last else "I have no words of the caller."
    if "why" in asked or "reason" in asked or "want" in asked:
        return f"They called about: {briefing.reason or 'no reason given'}."
    if "summary" in asked or "what happened" in asked or "so far" in asked:
        return briefing.summary or "There is no summary."
    return (
        "I only know the reason, the summary and how long they waited. "
        "Say connect to take the call, or decline."
    )


@dataclass(frozen=True)
class BriefTurns:
    """What a scripted supervisor does in a conversational brief: asks, then decides."""

    asks: list[str]
    decision: bool | None = None
    """True: says connect; False: says decline; None: says nothing more (the keypad, a
    hang-up or the timeout ends the brief)."""
    after: float = 0.0
    """Seconds after the opening before the supervisor speaks."""
    answered: Callable[[], None] | None = None
    """Called once the last question was answered: the phone's own reaction comes then (its
    key pressed, or a hang-up), not before the questions."""


@dataclass(frozen=True)
class MediaCall:
    action: str
    room: str
    text: str = ""
    to: str = ""


@dataclass
class RecordingMedia:
    """Implements `orchestrator.engine.Media` by recording every call.

    `machines` holds supervisor identities whose answer is an answering machine;
    `on_agent_leave` is called when the engine tells the AI to leave a room; `on_call` with
    every call as it is recorded (a simulation logs what was said, in time order).
    """

    calls: list[MediaCall] = field(default_factory=list)
    machines: set[str] = field(default_factory=set)
    on_agent_leave: Callable[[str], None] | None = None
    holding: set[str] = field(default_factory=set)
    on_call: Callable[[MediaCall], None] | None = None
    talks: Callable[[str], BriefTurns | None] | None = None
    """The supervisor (their identity) in a conversational brief: what they ask and decide."""
    sleep: Callable[[float], Awaitable[None]] | None = None
    """The clock's sleep, for `BriefTurns.after` (none: the supervisor speaks at once)."""

    def _record(self, call: MediaCall) -> None:
        self.calls.append(call)
        if self.on_call is not None:
            self.on_call(call)

    async def start_hold(self, room: str, music: str) -> None:
        self.holding.add(room)
        self._record(MediaCall("start_hold", room, music))

    async def stop_hold(self, room: str) -> None:
        self.holding.discard(room)
        self._record(MediaCall("stop_hold", room))

    async def say_to_caller(self, room: str, text: str) -> None:
        self._record(MediaCall("say_to_caller", room, text))

    async def brief(self, room: str, supervisor: str, text: str) -> None:
        self._record(MediaCall("brief", room, text, supervisor))

    async def converse(
        self, room: str, supervisor: str, briefing: Briefing, decide: Callable[[bool], None]
    ) -> None:
        """Records the opening (`brief`), each question (`supervisor_asked`) and answer
        (`said_to_supervisor`) and, when the session is closed, `brief_closed`."""
        self._record(MediaCall("brief", room, briefing.opening, supervisor))
        try:
            turns = self.talks(supervisor) if self.talks is not None else None
            if turns is not None:
                if turns.after and self.sleep is not None:
                    await self.sleep(turns.after)
                for question in turns.asks:
                    await self._speaking(question)
                    self._record(MediaCall("supervisor_asked", room, question, supervisor))
                    answer = brief_answer(question, briefing)
                    await self._speaking(answer)
                    self._record(MediaCall("said_to_supervisor", room, answer, supervisor))
                if turns.answered is not None:
                    turns.answered()
                if turns.decision is not None:
                    said = "connect" if turns.decision else "decline"
                    await self._speaking(said)
                    self._record(MediaCall("supervisor_said", room, said, supervisor))
                    decide(turns.decision)
            await asyncio.get_running_loop().create_future()  # the session, until cancelled
        finally:
            self._record(MediaCall("brief_closed", room, "", supervisor))

    async def _speaking(self, text: str) -> None:
        """A conversation's turn takes the time to say it (on `sleep`'s clock, if any)."""
        if self.sleep is not None:
            await self.sleep(len(text) / SPEAKING_RATE)

    async def screen_answer(self, room: str, supervisor: str) -> Literal["human", "machine"]:
        return "machine" if supervisor in self.machines else "human"

    async def agent_leave(self, room: str) -> None:
        self._record(MediaCall("agent_leave", room))
        if self.on_agent_leave is not None:
            self.on_agent_leave(room)
