"""The engine's own view of what it sends to and reads from LiveKit, and the translation to
and from the SDK's protobuf messages and errors. Keeping these here keeps `livekit.*` out of
the engine: it works with `Dial`, `Participant` and `LiveKitError` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from livekit import api
from livekit.protocol import models

from orchestrator.errors import LiveKitError
from orchestrator.flow.model import Target
from orchestrator.livekit.names import ROLE, SUPERVISOR, TRANSFER_ID

__all__ = ["Dial", "Participant", "dial_request", "livekit_error", "participant"]

_KINDS: dict[int, Literal["sip", "agent"]] = {
    models.ParticipantInfo.Kind.SIP: "sip",
    models.ParticipantInfo.Kind.AGENT: "agent",
}


@dataclass(frozen=True, slots=True)
class Participant:
    identity: str
    kind: Literal["sip", "agent", "other"]
    attributes: Mapping[str, str] = field(default_factory=dict)
    tracks: tuple[str, ...] = ()
    """The sids of the tracks it publishes."""
    joined_at: float = 0.0
    """When it joined the room (this time: a reconnect joins again), in seconds since the
    Unix epoch by the server's clock; 0 when the server does not say."""
    can_subscribe: bool = True
    """Its permission to subscribe to tracks (withheld from a ringing `in_room` leg)."""


@dataclass(frozen=True, slots=True)
class Dial:
    """One supervisor leg to dial: `to` the target's number, presenting `caller_id`."""

    trunk: str
    target: Target
    caller_id: str
    room: str
    identity: str
    transfer_id: str
    ring: float
    headers: Mapping[str, str]
    # For the `dial.request` log event only (the request does not carry them):
    target_name: str = ""
    """The target's name in the flow."""
    attempt: int = 0
    """The transfer's attempt number (1, 2, ...)."""
    caller_id_kind: Literal["caller", "business", ""] = ""
    """Whose number `caller_id` is."""
    group: str | None = None
    """The ring group it is rung in (`step/place`), if any: its phones ring at once."""


def participant(info: models.ParticipantInfo) -> Participant:
    return Participant(
        identity=info.identity,
        kind=_KINDS.get(info.kind, "other"),
        attributes=dict(info.attributes),
        tracks=tuple(track.sid for track in info.tracks),
        joined_at=info.joined_at_ms / 1000 if info.joined_at_ms else float(info.joined_at),
        can_subscribe=info.permission.can_subscribe if info.HasField("permission") else True,
    )


def dial_request(dial: Dial) -> api.CreateSIPParticipantRequest:
    target = dial.target
    request = api.CreateSIPParticipantRequest(
        sip_trunk_id=dial.trunk,
        sip_call_to=target.number,
        sip_number=dial.caller_id,
        room_name=dial.room,
        participant_identity=dial.identity,
        participant_name="Supervisor",
        participant_attributes={TRANSFER_ID: dial.transfer_id, ROLE: SUPERVISOR},
        wait_until_answered=True,
        play_dialtone=target.play_dialtone,
        hide_phone_number=target.hide_phone_number,
        krisp_enabled=target.krisp_enabled,
        dtmf=target.dtmf or "",
    )
    request.ringing_timeout.FromNanoseconds(int(dial.ring * 1e9))
    if target.max_call_duration:
        request.max_call_duration.FromSeconds(target.max_call_duration)
    if target.display_name:
        request.display_name = target.display_name
    request.headers.update(dial.headers)
    return request


def livekit_error(error: api.TwirpError) -> LiveKitError:
    return LiveKitError(
        f"LiveKit answered {error.code}: {error.message}",
        code=error.code,
        status=error.status,
        sip_status=error.sip_status_code if isinstance(error, api.SipCallError) else None,
        sip_reason=(error.sip_status or "") if isinstance(error, api.SipCallError) else "",
    )
