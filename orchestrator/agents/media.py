"""`AgentMedia`: the engine's `Media` port, done with a livekit-agents job and session.

Hold is LiveKit's `BackgroundAudioPlayer` on the caller's room with the session's audio input,
audio output and transcription switched off (what `WarmTransferTask` does); the brief is the
session's TTS on an audio track of its own, in the consult room (joined with a token minted
here) or, with the `in_room` merge strategy, in the caller's room where only the supervisor
may subscribe to it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import structlog
from livekit import rtc
from livekit.agents import (
    AgentSession,
    JobContext,
    llm as agents_llm,
    stt as agents_stt,
    tts as agents_tts,
)
from livekit.agents.voice.background_audio import (
    AudioConfig,
    BackgroundAudioPlayer,
    BuiltinAudioClip,
    PlayHandle,
)

from orchestrator.agents.briefing import caller_turns, run_briefing
from orchestrator.agents.events import EventFeed
from orchestrator.agents.speech import BriefTrack, connect_room, consult_token
from orchestrator.engine.ports import Briefing

__all__ = ["AgentMedia", "Screen"]

Screen = Callable[[str, str], Awaitable[Literal["human", "machine"]]]
"""`screen(room, supervisor)`: whether an answered leg is a person or an answering machine."""

_log = structlog.get_logger("orchestrator.agents")


@dataclass
class _Hold:
    player: BackgroundAudioPlayer | None
    handle: PlayHandle | None
    io: tuple[bool, bool, bool]  # audio input, audio output, transcription before the hold


class AgentMedia:
    """Hold audio, speech and briefs for the engine, from one job's room and session.

    Args:
        ctx: the job; its room is the caller's room.
        session: the AI's session with the caller; its TTS speaks the brief.
        url, api_key, api_secret: the LiveKit server, to join consult rooms.
        music_dir: where a hold step's `music: some/file.ogg` is found (the flow's folder).
        hold_volume: volume of the hold audio, 0 to 1.
        screen: an answering-machine detector; without one every answer counts as a person.
        screen_timeout: seconds `screen` may take before the answer counts as a person.
        player, track, connect: how hold audio, brief tracks and consult-room connections
            are made (livekit-agents and `livekit.rtc` by default; replaced in tests).
        brief_llm, brief_stt: the conversational brief's models (`mode: conversation`): the
            briefing session's LLM (it needs tools) and a streaming STT for the supervisor.
    """

    def __init__(
        self,
        ctx: JobContext,
        session: AgentSession[Any],
        *,
        url: str,
        api_key: str,
        api_secret: str,
        music_dir: Path | None = None,
        hold_volume: float = 0.8,
        screen: Screen | None = None,
        screen_timeout: float = 10.0,
        player: Callable[[], BackgroundAudioPlayer] = BackgroundAudioPlayer,
        track: Callable[[agents_tts.TTS[Any]], BriefTrack] = BriefTrack,
        connect: Callable[[str, str], Awaitable[rtc.Room]] = connect_room,
        brief_llm: agents_llm.LLM[Any] | None = None,
        brief_stt: agents_stt.STT[Any] | None = None,
    ) -> None:
        self._brief_llm, self._brief_stt = brief_llm, brief_stt
        self._ctx, self._session = ctx, session
        self._url, self._api_key, self._api_secret = url, api_key, api_secret
        self._music_dir = music_dir or Path.cwd()
        self._hold_volume = hold_volume
        self._screen, self._screen_timeout = screen, screen_timeout
        self._player, self._track, self._connect = player, track, connect
        self._hold: _Hold | None = None
        self._consults: dict[str, rtc.Room] = {}
        self._connecting = asyncio.Lock()
        self.feed: EventFeed | None = None
        """Where consult-room events go; `WarmTransfer` sets it."""

    @property
    def holding(self) -> bool:
        return self._hold is not None

    def music_path(self, music: str) -> Path | None:
        """The file a hold step's `music` names, or None for `builtin` and `none`."""
        return None if music in ("builtin", "none") else self._music_dir / music

    # -- hold ------------------------------------------------------------------------------

    async def start_hold(self, room: str, music: str) -> None:
        if self._hold is not None:
            return
        audio = self._hold_audio(music)  # a missing file fails the step before anything changes
        hold = self._hold = _Hold(None, None, self._io_state())
        self._set_io(False, False, False)
        with contextlib.suppress(RuntimeError):  # not running, or a speech that may not stop
            self._session.interrupt()  # the transfer tool's own speech disallows interruptions
        if audio is None:
            return
        player = self._player()
        try:
            await player.start(room=self._ctx.room)
            hold.player, hold.handle = player, player.play(audio, loop=True)
        except BaseException:
            with contextlib.suppress(Exception):
                await player.aclose()
            await self.stop_hold(room)
            raise

    async def stop_hold(self, room: str) -> None:
        hold, self._hold = self._hold, None
        if hold is None:  # never held here (a replacement worker's fresh session, say)
            return
        try:
            if hold.handle is not None:
                hold.handle.stop()
            if hold.player is not None:
                await hold.player.aclose()
        finally:
            self._set_io(*hold.io)

    def _hold_audio(self, music: str) -> AudioConfig | None:
        if music == "none":
            return None
        if music == "builtin":
            return AudioConfig(BuiltinAudioClip.HOLD_MUSIC, volume=self._hold_volume)
        path = self.music_path(music)
        if path is None or not path.is_file():
            raise FileNotFoundError(f"hold music {music!r} not found in {self._music_dir}")
        return AudioConfig(str(path), volume=self._hold_volume)

    def _io_state(self) -> tuple[bool, bool, bool]:
        out = self._session.output
        return self._session.input.audio_enabled, out.audio_enabled, out.transcription_enabled

    def _set_io(self, listen: bool, speak: bool, transcribe: bool) -> None:
        # Like WarmTransferTask: only streams that exist are switched, so nothing warns.
        inp, out = self._session.input, self._session.output
        if inp.audio is not None:
            inp.set_audio_enabled(listen)
        if out.audio is not None:
            out.set_audio_enabled(speak)
        if out.transcription is not None:
            out.set_transcription_enabled(transcribe)

    # -- speech ----------------------------------------------------------------------------

    async def say_to_caller(self, room: str, text: str) -> None:
        hold = self._hold
        if hold is not None:  # the voice comes back for this sentence only
            self._set_io(False, hold.io[1], hold.io[2])
        try:
            await self._session.say(text)
        finally:
            if hold is not None and self._hold is hold:
                self._set_io(False, False, False)

    async def brief(self, room: str, supervisor: str, text: str) -> None:
        async with self._supervisor_track(room, supervisor) as (_, track):
            await track.speak(text)

    async def converse(
        self, room: str, supervisor: str, briefing: Briefing, decide: Callable[[bool], None]
    ) -> None:
        """A second `AgentSession`, for the supervisor only: it hears their audio track alone
        (through `brief_stt`) and speaks on the brief's track, which only they may hear; its
        `accept` and `decline` tools call `decide`. Closed when the engine cancels it."""
        if self._brief_llm is None or self._brief_stt is None:
            raise RuntimeError(
                "a conversational brief needs brief_llm= and brief_stt= (a streaming STT) "
                "on WarmTransfer"
            )
        turns = caller_turns(self._session.history)
        async with self._supervisor_track(room, supervisor) as (connection, track):
            await run_briefing(
                connection,
                supervisor,
                track,
                briefing,
                decide,
                llm=self._brief_llm,
                stt=self._brief_stt,
                caller_turns=turns,
            )

    @contextlib.asynccontextmanager
    async def _supervisor_track(
        self, room: str, supervisor: str
    ) -> AsyncIterator[tuple[rtc.Room, BriefTrack]]:
        """The brief's track, published where `supervisor` is and heard by them only."""
        tts = self._session.tts
        if tts is None:
            raise RuntimeError(
                "the brief needs a TTS and the AgentSession has none (a realtime model?): "
                "pass tts= to AgentSession"
            )
        if room == self._ctx.room.name:
            async with self._in_room_track(tts, supervisor) as track:
                yield self._ctx.room, track
            return
        connection = await self._consult(room)
        track = self._track(tts)
        try:
            await track.publish(connection.local_participant)
            yield connection, track
        finally:
            await track.unpublish()

    @contextlib.asynccontextmanager
    async def _in_room_track(
        self, tts: agents_tts.TTS[Any], supervisor: str
    ) -> AsyncIterator[BriefTrack]:
        """The supervisor is in the caller's room (`in_room`): only they may hear the brief."""
        room = self._ctx.room
        local = room.local_participant
        ours = list(local.track_publications)  # the AI's voice and the hold audio

        def allowed(brief: str | None) -> list[rtc.ParticipantTrackPermission]:
            others = [
                rtc.ParticipantTrackPermission(participant_identity=who, allowed_track_sids=ours)
                for who in room.remote_participants
                if who != supervisor
            ]
            only_brief = [brief] if brief else []
            return [
                *others,
                rtc.ParticipantTrackPermission(
                    participant_identity=supervisor, allowed_track_sids=only_brief
                ),
            ]

        # Restricted before the track exists, so nobody else can subscribe in between.
        local.set_track_subscription_permissions(
            allow_all_participants=False, participant_permissions=allowed(None)
        )
        track = self._track(tts)
        try:
            sid = await track.publish(local)
            local.set_track_subscription_permissions(
                allow_all_participants=False, participant_permissions=allowed(sid)
            )
            yield track
        finally:
            await track.unpublish()
            local.set_track_subscription_permissions(allow_all_participants=True)

    async def _consult(self, room: str) -> rtc.Room:
        async with self._connecting:
            connection = self._consults.get(room)
            if connection is None:
                token = consult_token(self._api_key, self._api_secret, room)
                connection = await self._connect(self._url, token)
                self._consults[room] = connection
                if self.feed is not None:
                    self.feed.attach(connection, room)
            return connection

    # -- screening and leaving -------------------------------------------------------------

    async def screen_answer(self, room: str, supervisor: str) -> Literal["human", "machine"]:
        """A person, unless the `screen` detector says otherwise within `screen_timeout`.

        livekit-agents' `AMD` listens through an `AgentSession` in the room being screened,
        with its own STT and LLM; pass `screen=` to plug one in. A detector that fails or
        is too slow counts as a person: a machine then lets the brief time out.
        """
        if self._screen is None:
            return "human"
        try:
            async with asyncio.timeout(self._screen_timeout):
                verdict = await self._screen(room, supervisor)
        except Exception as error:
            _log.warning("agents.screen_failed", error=type(error).__name__)
            return "human"
        return "machine" if verdict == "machine" else "human"

    async def agent_leave(self, room: str) -> None:
        """The AI leaves the caller with the supervisor: its session closes and the job's
        tracks are unpublished. The job stays in the room, unheard, while the engine watches
        the merged call; `WarmTransfer` ends it when the call ends."""
        if room != self._ctx.room.name:
            return
        await self.release()
        # Not awaited: the transfer that calls this is itself awaited by the session's tool.
        with contextlib.suppress(RuntimeError):
            self._session.shutdown(drain=False)
        local = self._ctx.room.local_participant
        for sid in list(local.track_publications):
            with contextlib.suppress(Exception):  # already gone with the session
                await local.unpublish_track(sid)

    async def release(self) -> None:
        """Leave every consult room joined for briefs."""
        connections, self._consults = list(self._consults.values()), {}
        for connection in connections:
            if self.feed is not None:
                self.feed.detach(connection)
            with contextlib.suppress(Exception):  # deleted with the consult room already
                await connection.disconnect()

    async def aclose(self) -> None:
        await self.release()
        await self.stop_hold(self._ctx.room.name)
