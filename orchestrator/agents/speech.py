"""The brief's own audio: a TTS-fed track, and the least-privilege way into the consult room."""

from __future__ import annotations

import contextlib
import secrets
from datetime import timedelta
from typing import Any

from livekit import api, rtc
from livekit.agents import tts as agents_tts

__all__ = ["BRIEF_TRACK", "BriefTrack", "connect_room", "consult_token"]

BRIEF_TRACK = "warm-transfer-brief"
CONSULT_TOKEN_TTL = timedelta(minutes=5)


def consult_token(api_key: str, api_secret: str, room: str, identity: str | None = None) -> str:
    """A token that can join `room` only, publish audio and subscribe, for five minutes.

    No data publishing and no admin, create, list, record or SIP grant: a leaked token
    opens one short-lived consult room and nothing else.
    """
    grants = api.VideoGrants(
        room_join=True, room=room, can_publish=True, can_subscribe=True, can_publish_data=False
    )
    return (
        api.AccessToken(api_key, api_secret)
        .with_identity(identity or f"agent-briefer-{secrets.token_hex(4)}")
        .with_grants(grants)
        .with_ttl(CONSULT_TOKEN_TTL)
        .to_jwt()
    )


def signal_url(url: str) -> str:
    """The WebSocket URL `rtc.Room.connect` wants, from an http(s) or ws(s) server URL."""
    for plain, secure in (("http://", "ws://"), ("https://", "wss://")):
        if url.startswith(plain):
            return secure + url[len(plain) :]
    return url


async def connect_room(url: str, token: str) -> rtc.Room:
    """Join a room as a second participant of this worker (the brief only speaks there)."""
    room = rtc.Room()
    # Nothing there needs hearing: DTMF and departures arrive as events without subscribing.
    await room.connect(signal_url(url), token, rtc.RoomOptions(auto_subscribe=False))
    return room


class BriefTrack:
    """One local audio track fed by a TTS: publish it, speak on it, unpublish it."""

    def __init__(self, tts: agents_tts.TTS[Any], name: str = BRIEF_TRACK) -> None:
        self._tts = tts
        self._name = name
        self._source: rtc.AudioSource | None = None
        self._participant: rtc.LocalParticipant | None = None
        self.sid = ""

    async def publish(self, participant: rtc.LocalParticipant) -> str:
        """Publish the track and return its sid."""
        self._source = rtc.AudioSource(self._tts.sample_rate, self._tts.num_channels)
        track = rtc.LocalAudioTrack.create_audio_track(self._name, self._source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        publication = await participant.publish_track(track, options)
        self._participant, self.sid = participant, publication.sid
        return self.sid

    async def speak(self, text: str) -> None:
        """Say `text` and return once it has played out."""
        if self._source is None:
            raise RuntimeError("publish the brief track before speaking on it")
        async with self._tts.synthesize(text) as stream:
            async for audio in stream:
                await self._source.capture_frame(audio.frame)
        await self._source.wait_for_playout()

    async def unpublish(self) -> None:
        if self._participant is not None and self.sid:
            with contextlib.suppress(Exception):  # the room may be gone already
                await self._participant.unpublish_track(self.sid)
        if self._source is not None:
            await self._source.aclose()
        self._participant, self._source, self.sid = None, None, ""
