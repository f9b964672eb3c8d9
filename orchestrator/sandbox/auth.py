"""Access tokens and grants, checked the way the LiveKit server checks them.

HS256 JWTs signed with the API secret, `iss` = the API key, `exp` required, 60 s leeway. A
malformed header or token is answered with a plain-text 401 (which the Python client reports as
code `unknown`, as against the real server); a valid token that lacks the grant is a JSON 401
`unauthenticated` "permissions denied", not a 403.
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass, field
from typing import Any

import jwt
from livekit.api import SIPGrants, TokenVerifier, VideoGrants

from orchestrator.sandbox.twirp import TwirpError

__all__ = ["AuthError", "Grants", "authenticate"]

_LEEWAY = datetime.timedelta(seconds=60)


class AuthError(Exception):
    """Answered as a plain-text 401, like the server's HTTP middleware does."""


@dataclass(frozen=True)
class Grants:
    """The grants of one request; each check raises the server's answer when missing."""

    video: VideoGrants = field(default_factory=VideoGrants)
    sip: SIPGrants = field(default_factory=SIPGrants)

    @staticmethod
    def _denied() -> TwirpError:
        return TwirpError("unauthenticated", "permissions denied")

    def room_create(self) -> None:
        if not self.video.room_create:
            raise self._denied()

    def room_list(self) -> None:
        if not self.video.room_list:
            raise self._denied()

    def room_admin(self, room: str) -> None:
        if not (self.video.room_admin and self.video.room == room):
            raise self._denied()

    def destination_room(self, room: str, destination: str) -> None:
        self.room_admin(room)
        if self.video.destination_room != destination:
            raise self._denied()

    def sip_call(self) -> None:
        if not self.sip.call:
            raise self._denied()

    def sip_admin(self) -> None:
        if not self.sip.admin:
            raise self._denied()


def authenticate(header: str | None, api_key: str, api_secret: str) -> Grants:
    """Grants of the request's bearer token; no header means no grants at all."""
    if not header:
        return Grants()
    if not header.startswith("Bearer "):
        raise AuthError("invalid authorization header. Must start with Bearer")
    token = header.removeprefix("Bearer ")
    verifier = TokenVerifier(api_key, api_secret, leeway=_LEEWAY)
    try:
        claims = verifier.verify(token)
    except Exception:  # any decoding, signature, issuer or expiry failure
        raise AuthError("invalid token") from None
    # The server decodes the grants into typed Go structs: `"roomAdmin": "false"` is an
    # invalid token there, where Python's client would read the string as true.
    raw = jwt.decode(token, options={"verify_signature": False})
    if not _well_typed(raw.get("video"), VideoGrants) or not _well_typed(
        raw.get("sip"), SIPGrants
    ):
        raise AuthError("invalid token")
    return Grants(claims.video or VideoGrants(), claims.sip or SIPGrants())


def _well_typed(grants: Any, kind: type) -> bool:
    """Each grant the server knows has its JSON type (or null); names match in any case,
    as Go's encoding/json matches them."""
    if grants is None:
        return True
    if not isinstance(grants, dict):
        return False
    types = {f.name.replace("_", ""): str(f.type) for f in dataclasses.fields(kind)}
    for key, value in grants.items():
        declared = types.get(key.lower())
        if declared is None or value is None:
            continue
        if "bool" in declared:
            ok = isinstance(value, bool)
        elif "List" in declared:
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            ok = isinstance(value, str)
        if not ok:
            return False
    return True
