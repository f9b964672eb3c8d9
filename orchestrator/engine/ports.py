"""What the engine needs from the agent worker: hold audio, speech, and answer screening.

The worker integration implements `Media` with livekit-agents (BackgroundAudioPlayer, TTS,
answering-machine detection); `orchestrator.testing.RecordingMedia` implements it for tests
and simulations. Every method must return promptly or raise; the engine bounds them anyway.
"""

from __future__ import annotations

from typing import Literal, Protocol

__all__ = ["Media"]


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

    async def screen_answer(self, room: str, supervisor: str) -> Literal["human", "machine"]:
        """Whether an answered leg reached a person or an answering machine."""
        ...

    async def agent_leave(self, room: str) -> None:
        """The AI leaves the caller's room after a merge."""
