"""Test doubles shipped with the library (like httpx's MockTransport).

`RecordingMedia` stands in for the agent worker's media side: it records what the engine asked
for (hold on and off, what was said to whom) and answers the engine's questions, so transfers
can run in tests and simulations without audio.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["MediaCall", "RecordingMedia"]


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

    async def screen_answer(self, room: str, supervisor: str) -> Literal["human", "machine"]:
        return "machine" if supervisor in self.machines else "human"

    async def agent_leave(self, room: str) -> None:
        self._record(MediaCall("agent_leave", room))
        if self.on_agent_leave is not None:
            self.on_agent_leave(room)
