"""What the engine needs from the agent worker: hold audio, speech, and answer screening.

The worker integration implements `Media` with livekit-agents (BackgroundAudioPlayer, TTS,
answering-machine detection); `orchestrator.testing.RecordingMedia` implements it for tests
and simulations. Every method must return promptly or raise; the engine bounds them anyway:
`MEDIA_TIMEOUT_S` for hold audio and leaving, `speech_timeout(text)` for speech, and
`SCREEN_TIMEOUT_S` for answer screening (an answer not screened in time counts as a person,
as `orchestrator.agents.AgentMedia` does). A call that runs over fails its step, like a raise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "MEDIA_TIMEOUT_S",
    "SCREEN_TIMEOUT_S",
    "Briefing",
    "Media",
    "RoomEvents",
    "speech_timeout",
]

MEDIA_TIMEOUT_S = 10.0
SCREEN_TIMEOUT_S = 30.0


def speech_timeout(text: str) -> float:
    """Seconds a text may take to say: slow speech (5 characters a second), plus 10 s."""
    return 10.0 + len(text) / 5


@dataclass(frozen=True)
class Briefing:
    """What a conversational brief knows of the call (`brief` with `mode: conversation`)."""

    opening: str
    """The step's `say`, rendered: what the briefing agent says first."""
    instructions: str
    reason: str
    summary: str
    waited_s: float
    """Seconds since the transfer started (the caller has been on hold about that long)."""


class Media(Protocol):
    async def start_hold(self, room: str, music: str) -> None:
        """Play hold audio to the caller and stop the AI listening and speaking to them."""

    async def stop_hold(self, room: str) -> None:
        """Stop hold audio and give the caller's audio back to the AI."""

    async def say_to_caller(self, room: str, text: str) -> None:
        """Say `text` to the caller, word for word."""

    async def brief(self, room: str, supervisor: str, text: str) -> None:
        """Say `text` to the supervisor in `room`: the consult room, or with the `in_room`
        merge the caller's room, on a track only `supervisor` may subscribe to."""

    async def converse(
        self, room: str, supervisor: str, briefing: Briefing, decide: Callable[[bool], None]
    ) -> None:
        """Brief `supervisor` in a conversation (an agent session of its own in `room`, heard
        by and hearing only them) until cancelled: the engine cancels it as soon as the brief
        ends (a decision, the timeout, the supervisor leaving, the caller hanging up), and it
        must then close at once. `decide(True)` accepts, `decide(False)` declines; only what
        the supervisor said may lead to either. Returning early leaves the keypad and the
        timeout to decide."""

    async def screen_answer(self, room: str, supervisor: str) -> Literal["human", "machine"]:
        """Whether an answered leg reached a person or an answering machine."""
        ...

    async def agent_leave(self, room: str) -> None:
        """The AI leaves the caller's room after a merge."""


class RoomEvents(Protocol):
    """What the worker feeds with its rooms' events: a running transfer, or a merged call
    being watched (`TransferEngine.watching(room)` says which)."""

    def participant_joined(self, room: str, identity: str) -> None: ...

    def participant_left(self, room: str, identity: str, *, hung_up: bool = False) -> None:
        """`hung_up`: the participant's `sip.callStatus` was `hangup` (the call is over)."""

    def track_published(self, room: str, identity: str, track: str) -> None: ...

    def dtmf(self, room: str, identity: str, digit: str) -> None: ...
