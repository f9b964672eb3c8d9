"""Stand-ins for what cannot run here: `rtc.Room` connections, audio, and the agent session.

Rooms are real `rtc.EventEmitter`s fed by the sandbox's room events (`bridge`), so the code
under test hears `participant_connected`, `track_published`, `participant_disconnected` and
`sip_dtmf_received` as a connected `rtc.Room` would deliver them. The engine behind them runs
for real.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from livekit import api, rtc
from livekit.agents import llm
from livekit.protocol import models

from orchestrator.sandbox import Event, Sandbox

_SIDS = itertools.count(1)


@dataclass
class FakeParticipant:
    identity: str
    kind: int = rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class Publication:
    sid: str
    name: str


class FakeLocalParticipant:
    def __init__(self, identity: str) -> None:
        self.identity = identity
        self.track_publications: dict[str, Publication] = {}
        self.permissions: list[tuple[bool, dict[str, list[str]]]] = []
        self.log: list[str] = []

    def add_track(self, name: str) -> str:
        sid = f"TR_{name}_{next(_SIDS)}"
        self.track_publications[sid] = Publication(sid, name)
        return sid

    async def publish_track(self, track: Any, options: Any = None) -> Publication:
        sid = self.add_track(getattr(track, "name", "track"))
        self.log.append(f"publish {sid}")
        return self.track_publications[sid]

    async def unpublish_track(self, sid: str) -> None:
        self.track_publications.pop(sid, None)
        self.log.append(f"unpublish {sid}")

    def set_track_subscription_permissions(
        self,
        *,
        allow_all_participants: bool,
        participant_permissions: list[rtc.ParticipantTrackPermission] | None = None,
    ) -> None:
        allowed = {
            p.participant_identity: list(p.allowed_track_sids)
            for p in participant_permissions or []
        }
        self.permissions.append((allow_all_participants, allowed))
        self.log.append(f"permissions all={allow_all_participants}")


class FakeRoom(rtc.EventEmitter[Any]):
    """What the code under test uses of `rtc.Room`."""

    def __init__(self, name: str, local_identity: str = "agent") -> None:
        super().__init__()
        self.name = name
        self.local_participant = FakeLocalParticipant(local_identity)
        self.remote_participants: dict[str, FakeParticipant] = {}
        self.disconnected = False

    def handlers(self) -> dict[str, int]:
        """How many callbacks each event has (what a leak would grow)."""
        return {event: len(callbacks) for event, callbacks in self._events.items() if callbacks}

    async def disconnect(self) -> None:
        self.disconnected = True


def _participant(info: models.ParticipantInfo) -> FakeParticipant:
    return FakeParticipant(info.identity, int(info.kind), dict(info.attributes))


class Bridge:
    """Delivers the sandbox's room events to fake rooms, as LiveKit would to its clients."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.rooms: dict[str, FakeRoom] = {}
        self.tokens: list[str] = []
        self.unsubscribe = sandbox.subscribe(self._on_event)

    def add(self, room: FakeRoom) -> FakeRoom:
        """Connect `room`: it sees who is there, then every event."""
        self.rooms[room.name] = room
        state = self.sandbox.room(room.name)
        for identity, member in (state.members if state else {}).items():
            if identity != room.local_participant.identity:
                room.remote_participants[identity] = _participant(member.info)
        return room

    async def connect(self, url: str, token: str) -> FakeRoom:
        """`AgentMedia`'s `connect`: joins the room the token names."""
        claims = api.TokenVerifier(self.sandbox.api_key, self.sandbox.api_secret).verify(token)
        assert claims.video is not None
        self.tokens.append(token)
        return self.add(FakeRoom(claims.video.room, claims.identity))

    def _on_event(self, event: Event) -> None:
        room = self.rooms.get(event.room)
        info = event.participant
        if room is None or room.disconnected or info is None:
            return
        if info.identity == room.local_participant.identity:
            return
        known = room.remote_participants
        if event.kind == "participant_joined":
            known[info.identity] = _participant(info)
            room.emit("participant_connected", known[info.identity])
        elif event.kind == "track_published" and info.identity in known:
            for track in info.tracks:
                room.emit(
                    "track_published", Publication(track.sid, track.name), known[info.identity]
                )
        elif event.kind == "participant_attributes_changed" and info.identity in known:
            before, after = known[info.identity].attributes, dict(info.attributes)
            changed = {k: v for k, v in after.items() if before.get(k) != v}
            changed.update({k: "" for k in before if k not in after})
            known[info.identity].attributes = after
            if changed:
                room.emit("participant_attributes_changed", changed, known[info.identity])
        elif event.kind == "participant_left":
            room.emit("participant_disconnected", known.pop(info.identity, _participant(info)))
        elif event.kind == "sip_dtmf_received":
            sender = known.get(info.identity, _participant(info))
            dtmf = rtc.SipDTMF(code=0, digit=event.digit, participant=sender)
            room.emit("sip_dtmf_received", dtmf)


# -- the agent side --------------------------------------------------------------------------


class FakeInput:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.audio: object | None = object()
        self.audio_enabled = True

    def set_audio_enabled(self, enabled: bool) -> None:
        self.audio_enabled = enabled
        self.log.append(f"input.audio={enabled}")


class FakeOutput:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.audio: object | None = object()
        self.transcription: object | None = object()
        self.audio_enabled = True
        self.transcription_enabled = True

    def set_audio_enabled(self, enabled: bool) -> None:
        self.audio_enabled = enabled
        self.log.append(f"output.audio={enabled}")

    def set_transcription_enabled(self, enabled: bool) -> None:
        self.transcription_enabled = enabled
        self.log.append(f"output.transcription={enabled}")


class FakeSession:
    """The parts of `AgentSession` the integration touches, recording every call."""

    def __init__(self, history: llm.ChatContext | None = None) -> None:
        self.log: list[str] = []
        self.input = FakeInput(self.log)
        self.output = FakeOutput(self.log)
        self.history = history or llm.ChatContext.empty()
        self.tts: object | None = object()
        self.said: list[str] = []

    @property
    def room_io(self) -> Any:
        raise RuntimeError("not started with a room")

    def interrupt(self, *, force: bool = False) -> None:
        self.log.append("interrupt")

    async def _spoken(self) -> None:
        return None

    def say(self, text: str, **_: Any) -> Any:
        self.said.append(text)
        self.log.append(f"say audio={self.output.audio_enabled}")
        return self._spoken()

    def shutdown(self, *, drain: bool = True) -> None:
        self.log.append(f"shutdown drain={drain}")


class FakeHandle:
    def __init__(self) -> None:
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True


class Players:
    """`AgentMedia`'s `player` factory, keeping every player it made."""

    def __init__(self) -> None:
        self.made: list[FakePlayer] = []

    def __call__(self) -> FakePlayer:
        self.made.append(FakePlayer())
        return self.made[-1]


class FakePlayer:
    """`BackgroundAudioPlayer`: publishes a track on start, unpublishes it on close."""

    def __init__(self) -> None:
        self.room: FakeRoom | None = None
        self.played: list[tuple[Any, bool]] = []
        self.handle = FakeHandle()
        self.closed = False
        self.sid = ""

    async def start(self, *, room: FakeRoom) -> None:
        self.room = room
        self.sid = room.local_participant.add_track("background_audio")

    def play(self, audio: Any, *, loop: bool = False) -> FakeHandle:
        self.played.append((audio, loop))
        return self.handle

    async def aclose(self) -> None:
        self.closed = True
        if self.room is not None:
            self.room.local_participant.track_publications.pop(self.sid, None)


class Tracks:
    """`AgentMedia`'s `track` factory: brief tracks that record what they said, and where."""

    def __init__(self) -> None:
        self.spoken: list[tuple[str, str]] = []  # (who published it, text)
        self._waiting: list[asyncio.Future[str]] = []

    def __call__(self, tts: Any) -> FakeTrack:
        return FakeTrack(self)

    def next_brief(self) -> asyncio.Future[str]:
        """Resolved with the text of the next brief spoken."""
        self._waiting.append(asyncio.get_running_loop().create_future())
        return self._waiting[-1]

    def said(self, who: str, text: str) -> None:
        self.spoken.append((who, text))
        for waiting in self._waiting:
            waiting.set_result(text)
        self._waiting.clear()


class FakeTrack:
    def __init__(self, tracks: Tracks) -> None:
        self.tracks = tracks
        self.participant: FakeLocalParticipant | None = None
        self.sid = ""

    async def publish(self, participant: FakeLocalParticipant) -> str:
        self.participant = participant
        self.sid = participant.add_track("warm-transfer-brief")
        participant.log.append(f"publish {self.sid}")
        return self.sid

    async def speak(self, text: str) -> None:
        assert self.participant is not None
        self.participant.log.append(f"speak {self.sid}")
        self.tracks.said(self.participant.identity, text)

    async def unpublish(self) -> None:
        assert self.participant is not None
        await self.participant.unpublish_track(self.sid)


class FakeRunContext:
    def __init__(self) -> None:
        self.interruptions_allowed = True

    def disallow_interruptions(self) -> None:
        self.interruptions_allowed = False
