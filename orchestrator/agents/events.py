"""Room events to the running transfer (or the merged call watched after it): who joined,
who left or hung up, which tracks were published, which DTMF digit was pressed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from livekit import rtc

from orchestrator.engine import RoomEvents
from orchestrator.livekit.names import CALL_STATUS

__all__ = ["EventFeed"]

_STATUS = CALL_STATUS


@dataclass(frozen=True)
class _Hooks:
    room: rtc.Room
    joined: Callable[[rtc.RemoteParticipant], None]
    published: Callable[[rtc.RemoteTrackPublication, rtc.RemoteParticipant], None]
    left: Callable[[rtc.RemoteParticipant], None]
    changed: Callable[[dict[str, str], rtc.Participant], None]
    dtmf: Callable[[rtc.SipDTMF], None]


class EventFeed:
    """Forwards `rtc.Room` events to whatever `running()` returns (a transfer, or a merged
    call): participants joining and leaving, phone calls ending (`sip.callStatus` becoming
    `hangup`, which LiveKit's SIP bridge sets before the participant leaves), tracks
    published, DTMF digits.

    Rooms are attached under the name the transfer knows them by (the caller room, a consult
    room); `detach_all` removes every handler this feed added, so nothing outlives a transfer.
    """

    def __init__(self, running: Callable[[], RoomEvents | None]) -> None:
        self._running = running
        self._hooks: dict[int, _Hooks] = {}

    @property
    def attached(self) -> int:
        """How many rooms are attached now."""
        return len(self._hooks)

    def attach(self, room: rtc.Room, name: str) -> None:
        if id(room) in self._hooks:
            return

        def joined(participant: rtc.RemoteParticipant) -> None:
            if (transfer := self._running()) is not None:
                transfer.participant_joined(name, participant.identity)

        def published(
            publication: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
        ) -> None:
            if (transfer := self._running()) is not None:
                transfer.track_published(name, participant.identity, publication.sid)

        def left(participant: rtc.RemoteParticipant) -> None:
            if (transfer := self._running()) is not None:
                hung_up = participant.attributes.get(_STATUS) == "hangup"
                transfer.participant_left(name, participant.identity, hung_up=hung_up)

        def changed(attributes: dict[str, str], participant: rtc.Participant) -> None:
            ended = attributes.get(_STATUS) == "hangup"
            if ended and (transfer := self._running()) is not None:
                transfer.participant_left(name, participant.identity, hung_up=True)

        def dtmf(event: rtc.SipDTMF) -> None:
            # A digit sent by a server SDK has no participant: it cannot be the supervisor.
            if event.participant is not None and (transfer := self._running()) is not None:
                transfer.dtmf(name, event.participant.identity, event.digit)

        room.on("participant_connected", joined)
        room.on("track_published", published)
        room.on("participant_disconnected", left)
        room.on("participant_attributes_changed", changed)
        room.on("sip_dtmf_received", dtmf)
        self._hooks[id(room)] = _Hooks(room, joined, published, left, changed, dtmf)

    def detach(self, room: rtc.Room) -> None:
        hooks = self._hooks.pop(id(room), None)
        if hooks is None:
            return
        room.off("participant_connected", hooks.joined)
        room.off("track_published", hooks.published)
        room.off("participant_disconnected", hooks.left)
        room.off("participant_attributes_changed", hooks.changed)
        room.off("sip_dtmf_received", hooks.dtmf)

    def detach_all(self) -> None:
        for hooks in list(self._hooks.values()):
            self.detach(hooks.room)
