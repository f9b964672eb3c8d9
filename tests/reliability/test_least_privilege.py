"""Catalogue K and C3: credentials and grants, found before the caller is held.

A missing grant is what the server answers for it: LiveKit says `unauthenticated`
"permissions denied" (HTTP 401) for a token without the grant, and a plain-text 401 for a
token it cannot verify at all (a wrong key or secret). Each must end as a typed
`TransferError` (or outcome) with reason `permission` before the caller hears hold audio:
no `start_hold`, no hold checkpoint on the caller.

K1 for the worker's consult-room token is tested with the worker integration. The tokens
the engine's API calls carry are minted by `livekit-api` per request (the SDK signs each call
with the grants that RPC needs and its own 6 h TTL, which the library does not set);
`test_api_calls_ask_only_for_the_grants_they_need` decodes them. K2 (running from a
pre-signed token with no secret) cannot apply: the engine takes an API key and secret only.
"""

from __future__ import annotations

import datetime
from typing import Any

import jwt
import pytest
from livekit import api

from orchestrator import TransferError
from tests.reliability.cases import (
    CREATE_ROOM,
    DELETE_ROOM,
    DIAL,
    LIST,
    MOVE,
    UPDATE,
    fault,
    phones,
)
from tests.reliability.harness import API_KEY, SECRET, warm
from tests.reliability.rig import Rig

DENIED = {"code": "unauthenticated", "message": "permissions denied"}


def _held(rig: Rig) -> list[str]:
    """Signs the caller was held: hold audio, or the hold checkpoint on the caller."""
    signs = [c.action for c in rig.media.calls if c.action == "start_hold"]
    signs += [
        "checkpoint"
        for r in rig.sandbox.requests
        if r["rpc"] == UPDATE
        and r["request"]
        and r["request"].get("attributes", {}).get("transfer.state") == "held"
    ]
    return signs


async def _refused_before_hold(rig: Rig) -> TransferError | None:
    """Run the transfer; the typed refusal, whether from `start()` or as the outcome."""
    try:
        await rig.start(warm())
    except TransferError as error:
        rig.verify()
        return error
    (outcome,) = await rig.finish()
    rig.verify()
    assert (outcome.kind, outcome.reason) in (("failed", "permission"), ("returned", "permission"))
    return None


@pytest.mark.parametrize(
    ("key", "secret"),
    [(API_KEY, "wrong-secret-" + "x" * 32), ("unknown-key", SECRET)],
    ids=["wrong-secret", "wrong-key"],
)
async def test_bad_credentials_are_a_permission_error_before_the_hold(
    key: str, secret: str
) -> None:
    async with Rig(api_key=key, api_secret=secret, fault="K2-bad-credentials") as rig:
        error = await _refused_before_hold(rig)
        assert error is not None
        assert error.reason == "permission"
        assert _held(rig) == []
        assert rig.dials() == []
        assert secret not in str(error)
        assert "eyJ" not in str(error)


# What an API key without a grant meets: every RPC that needs the grant is refused, the
# engine's own probes (requests that name nobody) included.
ROOM_ADMIN = [LIST, UPDATE, MOVE, "RoomService.GetParticipant", "RoomService.RemoveParticipant"]
GRANTS: dict[str, list[str]] = {
    "roomAdmin": [*ROOM_ADMIN, "RoomService.UpdateSubscriptions"],
    "roomCreate": [CREATE_ROOM, DELETE_ROOM],
    "sip.call": [DIAL, "SIP.TransferSIPParticipant"],
    "destinationRoom": [MOVE],
}


def _denied(grant: str) -> list[dict[str, Any]]:
    return [fault(rpc, times=50, probe=True, **DENIED) for rpc in GRANTS[grant]]


@pytest.mark.parametrize("grant", sorted(GRANTS))
async def test_a_missing_grant_is_found_before_the_hold(grant: str) -> None:
    """K2/C3: the API key lacks one grant. The transfer is refused (reason `permission`)
    before the caller is held, or goes another way that does not need it (a merge in the
    caller's room instead of a move) and completes."""
    scenario = {**phones({"answer": 1.0}), "faults": _denied(grant)}
    async with Rig(scenario, fault=f"K2-missing-{grant}") as rig:
        try:
            await rig.start(warm())
        except TransferError as refused:
            error: TransferError | None = refused
        else:
            error = None
        outcomes = await rig.finish()
        rig.verify()
        if error is not None:
            assert error.reason == "permission"
            assert _held(rig) == []
            assert rig.dials() == []
        else:
            assert [o.kind for o in outcomes] == ["merged"], outcomes


async def test_api_calls_ask_only_for_the_grants_they_need(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """K1 for per-request tokens: no room listing, no SIP admin, room admin only for the
    caller's room, the consult room or the probe; never a token without an expiry."""
    minted: list[str] = []
    original = api.AccessToken.to_jwt

    def spy(self: api.AccessToken) -> str:
        token: str = original(self)
        minted.append(token)
        return token

    monkeypatch.setattr(api.AccessToken, "to_jwt", spy)
    async with Rig(phones({"answer": 1.0}), fault=None) as rig:
        transfer = await rig.start(warm())
        await rig.finish()
        rig.verify()
        verifier = api.TokenVerifier(API_KEY, SECRET)
        claims = [verifier.verify(token) for token in minted]
        assert claims
        rooms = {transfer.room, transfer.consult_room}
        for claim in claims:
            video: Any = claim.video
            sip: Any = claim.sip
            assert not (video and video.room_list), "room listing is never needed"
            assert not (sip and sip.admin), "SIP admin is never needed"
            if video and video.room_admin:
                assert (
                    video.room in rooms
                    or "probe" in video.room
                    or video.room.startswith("orchestrator-")
                )
            if video and video.destination_room:
                assert video.destination_room == transfer.room or "probe" in video.destination_room
        lifetimes = {
            (body["exp"] - body["nbf"])
            for body in (jwt.decode(t, options={"verify_signature": False}) for t in minted)
        }
        assert lifetimes
        assert max(lifetimes) <= datetime.timedelta(hours=6).total_seconds()


@pytest.mark.parametrize("grant", [{"roomAdmin": "false"}, {"roomList": 1}, {"room": 7}, []])
async def test_an_ill_typed_grant_is_an_invalid_token(grant: Any) -> None:
    """The server decodes grants into typed fields: a string where a boolean belongs does
    not grant anything, it makes the token invalid (plain-text 401). Python's own verifier
    would read `"false"` as true."""
    async with Rig() as rig:
        now = datetime.datetime.now(datetime.UTC)
        claims = {"iss": API_KEY, "sub": "x", "exp": now + datetime.timedelta(minutes=5)}
        video = grant if not isinstance(grant, dict) else {"room": "call-1", **grant}
        token = jwt.encode({**claims, "video": video}, SECRET)
        async with api.LiveKitAPI(rig.sandbox.url, API_KEY, SECRET) as lk:
            lk.room._auth_header = lambda *_, **__: {"Authorization": f"Bearer {token}"}  # type: ignore[method-assign]
            with pytest.raises(api.TwirpError) as refused:
                await lk.room.list_participants(api.ListParticipantsRequest(room="call-1"))
        assert (refused.value.status, refused.value.code) == (401, "unknown")
