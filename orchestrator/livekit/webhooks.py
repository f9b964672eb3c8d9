"""LiveKit's webhooks, verified the way `livekit-api`'s `WebhookReceiver` verifies them.

LiveKit posts protobuf JSON of a `WebhookEvent` with `Authorization` set to a JWT (HS256, signed
with the API secret, `iss` the API key, `exp` five minutes on) whose `sha256` claim is the
base64 SHA-256 of the exact body. Anything else is refused with the reason it was refused for:

* `unsigned`: no `Authorization` header;
* `forged`: a token that is not a JWT, not signed with this key's secret, issued by another
  key, or whose `sha256` does not match the body;
* `stale`: a genuine token past its `exp` (or before its `nbf`), 60 s leeway;
* `malformed`: a body that is too large, not UTF-8, or not a `WebhookEvent` naming its event (a
  signed body that does not parse is still refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import jwt
from google.protobuf import json_format
from livekit import api
from livekit.protocol import models

__all__ = ["MAX_BODY_BYTES", "Departure", "WebhookRefused", "verify_webhook"]

MAX_BODY_BYTES = 1 << 20
"""A webhook is a few kilobytes; a larger body is refused before anything is verified."""

Why = Literal["unsigned", "forged", "stale", "malformed"]


class WebhookRefused(Exception):
    """A webhook that must not be acted on; `why` says which check it failed."""

    def __init__(self, why: Why, detail: str) -> None:
        super().__init__(f"webhook refused ({why}): {detail}")
        self.why: Why = why


@dataclass(frozen=True, slots=True)
class Departure:
    """What a verified webhook says about who left which room (or that it is something else:
    `event` is LiveKit's event name, `identity` empty when no participant is named)."""

    event: str
    event_id: str
    room: str
    identity: str
    sid: str
    agent: bool
    """The participant was of kind AGENT (a worker's job)."""
    room_deleted: bool
    """It left because the room was deleted (the call is over)."""


def verify_webhook(
    body: bytes, authorization: str | None, api_key: str, api_secret: str
) -> Departure:
    """The event, once its signature, freshness and shape are checked.

    Raises:
        WebhookRefused: see the module docstring for the four reasons.
    """
    if not authorization:
        raise WebhookRefused("unsigned", "no Authorization header")
    if len(body) > MAX_BODY_BYTES:
        raise WebhookRefused("malformed", f"body over {MAX_BODY_BYTES} bytes")
    token = authorization.removeprefix("Bearer ").strip()  # LiveKit sends the bare JWT
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRefused("malformed", "body is not UTF-8") from None
    receiver = api.WebhookReceiver(api.TokenVerifier(api_key, api_secret))
    try:
        event = receiver.receive(text, token)
    except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError) as error:
        raise WebhookRefused("stale", str(error)) from None
    except jwt.PyJWTError as error:
        raise WebhookRefused("forged", type(error).__name__) from None
    except json_format.ParseError:
        raise WebhookRefused("malformed", "body is not a WebhookEvent") from None
    except Exception as error:  # the receiver raises a bare Exception for a bad sha256
        raise WebhookRefused("forged", str(error)[:80]) from None
    if not event.event:  # protobuf's parser takes `[]` or `"x"` for an empty event
        raise WebhookRefused("malformed", "no event name")
    participant = event.participant
    return Departure(
        event=event.event,
        event_id=event.id,
        room=event.room.name,
        identity=participant.identity,
        sid=participant.sid,
        agent=participant.kind == models.ParticipantInfo.Kind.AGENT,
        room_deleted=participant.disconnect_reason == models.DisconnectReason.ROOM_DELETED,
    )
