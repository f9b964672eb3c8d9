"""Rooms, participants and the events they produce, on a simulated clock.

The state is kept as `livekit.protocol` messages so answers are exactly what a server sends.
Rooms close by themselves like real ones: `empty_timeout` after creation if nobody joins,
`departure_timeout` after the last participant leaves. Every change is announced as an
`Event` to in-process subscribers (and, through the server, as webhooks).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from livekit.protocol import models, room as room_pb

from orchestrator.clock import Clock, wall_time

__all__ = ["Event", "Member", "RoomState", "World", "new_id"]

DEFAULT_EMPTY_TIMEOUT = 300
DEFAULT_DEPARTURE_TIMEOUT = 20


def new_id(prefix: str) -> str:
    """Ids shaped like LiveKit's: a prefix and 12 random characters."""
    return prefix + secrets.token_urlsafe(9).replace("-", "x").replace("_", "y")


@dataclass(frozen=True)
class Event:
    """Something that happened in a room.

    `kind` is one of `room_started`, `room_finished`, `participant_joined`,
    `participant_left`, `track_published`, `track_unpublished`,
    `participant_attributes_changed`, `sip_dtmf_received`,
    `data_received`, `subscriptions_changed` and `voicemail_greeting` (a scripted phone's
    answering machine picked up: what an answering-machine detector would hear).
    """

    kind: str
    room: str
    participant: models.ParticipantInfo | None = None
    room_info: models.Room | None = None
    digit: str = ""
    data: bytes = b""
    at: float = 0.0


@dataclass
class Member:
    """A participant and what the sandbox runs for it (a SIP leg's life, for example)."""

    info: models.ParticipantInfo
    task: asyncio.Task[None] | None = None
    unsubscribed: set[str] = field(default_factory=set)


@dataclass
class RoomState:
    info: models.Room
    members: dict[str, Member] = field(default_factory=dict)
    closer: asyncio.Task[None] | None = None
    dispatches: dict[str, Any] = field(default_factory=dict)


class World:
    """All rooms of one sandbox; every mutation goes through here so events stay in order."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.rooms: dict[str, RoomState] = {}
        self.subscribers: list[Callable[[Event], None]] = []
        self.changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.forwards: dict[tuple[str, str], set[str]] = {}
        """Rooms mirroring a participant (ForwardParticipant), by (room, identity)."""

    # -- plumbing ---------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def emit(self, kind: str, room: str, **details: Any) -> None:
        participant = details.pop("participant", None)
        copy = None
        if participant is not None:
            copy = models.ParticipantInfo()
            copy.CopyFrom(participant)
        state = self.rooms.get(room)
        room_info = None
        if state is not None:
            room_info = models.Room()
            room_info.CopyFrom(state.info)
        event = Event(kind, room, copy, room_info, at=self.clock.now(), **details)
        for subscriber in list(self.subscribers):
            subscriber(event)
        self.spawn(self.notify())

    async def notify(self) -> None:
        """Wake everyone waiting in `wait_for`."""
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Return once `predicate()` holds; re-checked after every change, never polled."""
        async with self.changed:
            await self.changed.wait_for(predicate)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- rooms --------------------------------------------------------------------------

    def create_room(self, request: room_pb.CreateRoomRequest) -> RoomState:
        existing = self.rooms.get(request.name)
        if existing is not None:
            return existing
        now = time.time()
        info = models.Room(
            sid=new_id("RM_"),
            name=request.name,
            empty_timeout=request.empty_timeout or DEFAULT_EMPTY_TIMEOUT,
            departure_timeout=request.departure_timeout or DEFAULT_DEPARTURE_TIMEOUT,
            max_participants=request.max_participants,
            metadata=request.metadata,
            creation_time=int(now),
            creation_time_ms=int(now * 1000),
        )
        state = RoomState(info)
        self.rooms[request.name] = state
        self.emit("room_started", request.name)
        self._schedule_close(state, info.empty_timeout)
        return state

    def _schedule_close(self, state: RoomState, after: float) -> None:
        if state.closer is not None:
            state.closer.cancel()
        state.closer = self.spawn(self._close_later(state.info.name, after))

    async def _close_later(self, name: str, after: float) -> None:
        await self.clock.sleep(after)
        state = self.rooms.get(name)
        if state is not None and not state.members:
            state.closer = None  # this task is finishing; do not cancel it from delete
            self.delete_room(name)

    def delete_room(self, name: str) -> None:
        state = self.rooms[name]
        for identity in list(state.members):
            self.leave(name, identity, models.DisconnectReason.ROOM_DELETED)
        if state.closer is not None:
            state.closer.cancel()
        self.emit("room_finished", name)
        del self.rooms[name]

    # -- participants -------------------------------------------------------------------

    def join(self, room: str, info: models.ParticipantInfo) -> Member:
        state = self.rooms.get(room) or self.create_room(room_pb.CreateRoomRequest(name=room))
        if info.identity in state.members:  # a second join with an identity replaces the first
            self.leave(room, info.identity, models.DisconnectReason.DUPLICATE_IDENTITY)
        info.sid = info.sid or new_id("PA_")
        info.state = models.ParticipantInfo.State.ACTIVE
        # Stamped by the simulated clock (as epoch seconds, `wall_time`), so an engine on
        # the same clock can tell how long ago a participant joined.
        joined = wall_time(self.clock)
        info.joined_at = int(joined)
        info.joined_at_ms = int(joined * 1000)
        if not info.HasField("permission"):
            info.permission.CopyFrom(
                models.ParticipantPermission(
                    can_subscribe=True, can_publish=True, can_publish_data=True
                )
            )
        member = Member(info)
        state.members[info.identity] = member
        state.info.num_participants = len(state.members)
        if state.closer is not None:
            state.closer.cancel()
            state.closer = None
        self.emit("participant_joined", room, participant=info)
        return member

    def leave(self, room: str, identity: str, reason: int) -> models.ParticipantInfo:
        state = self.rooms[room]
        member = state.members.pop(identity)
        state.info.num_participants = len(state.members)
        member.info.state = models.ParticipantInfo.State.DISCONNECTED
        member.info.disconnect_reason = reason  # type: ignore[assignment]
        if member.task is not None and member.task is not asyncio.current_task():
            member.task.cancel()
        for _ in member.info.tracks:
            self.emit("track_unpublished", room, participant=member.info)
        self.emit("participant_left", room, participant=member.info)
        for mirror in self.forwards.pop((room, identity), set()):  # forwarding stops with it
            if self.member(mirror, identity) is not None:
                self.leave(mirror, identity, reason)
        if not state.members and reason != models.DisconnectReason.ROOM_DELETED:
            self._schedule_close(state, state.info.departure_timeout)
        return member.info

    def set_attributes(self, room: str, identity: str, changes: dict[str, str]) -> None:
        """Merge attributes; an empty value deletes the key, as UpdateParticipant does."""
        info = self.rooms[room].members[identity].info
        before = dict(info.attributes)
        for key, value in changes.items():
            if value:
                info.attributes[key] = value
            elif key in info.attributes:
                del info.attributes[key]
        if dict(info.attributes) != before:
            self.emit("participant_attributes_changed", room, participant=info)

    def member(self, room: str, identity: str) -> Member | None:
        state = self.rooms.get(room)
        return state.members.get(identity) if state else None
