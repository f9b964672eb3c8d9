"""Conformance, part 1: the errors the engine interprets, and the probe's three requests.

The same checks run against the sandbox (flavor oss) and the real stack (livekit-server and
livekit-sip at the versions of `stack/versions.env`), through the unmodified `livekit-api`
client; each asserts what the real server does. Where the sandbox cannot model something, the
check is an `xfail` whose reason docs/sandbox.md ("What the sandbox cannot tell you") lists
(none now).
"""

from __future__ import annotations

import time

import aiohttp
import jwt
import pytest
from livekit import api

from tests.e2e.harness.checks import PREFIX, answer
from tests.e2e.harness.targets import SUPERVISOR, Target

# -- errors the engine interprets ----------------------------------------------------------


async def test_delete_unknown_room(target: Target) -> None:
    got = await answer(target.lk.room.delete_room(api.DeleteRoomRequest(room="nowhere")))
    assert (got.code, got.status) == ("not_found", 404)
    assert got.message == PREFIX + "requested room does not exist"


@pytest.mark.parametrize("rpc", ["get", "remove", "update"])
async def test_unknown_participant(target: Target, rpc: str) -> None:
    room = target.lk.room
    await room.create_room(api.CreateRoomRequest(name="empty"))
    who = api.RoomParticipantIdentity(room="empty", identity="nobody")
    update = api.UpdateParticipantRequest(room="empty", identity="nobody", attributes={"a": "b"})
    if rpc == "get":
        got = await answer(room.get_participant(who))
    elif rpc == "remove":
        got = await answer(room.remove_participant(who))
    else:
        got = await answer(room.update_participant(update))
    assert (got.code, got.status, got.message) == (
        "not_found",
        404,
        PREFIX + "participant does not exist",
    )
    assert got.seconds < 1


async def test_list_participants_of_unknown_room(target: Target) -> None:
    listing = await target.lk.room.list_participants(api.ListParticipantsRequest(room="none"))
    assert list(listing.participants) == []


async def test_create_room_is_idempotent(target: Target) -> None:
    first = await target.lk.room.create_room(api.CreateRoomRequest(name="twice"))
    second = await target.lk.room.create_room(api.CreateRoomRequest(name="twice"))
    assert first.sid == second.sid
    assert first.sid.startswith("RM_")


async def test_wrong_secret(target: Target) -> None:
    async with api.LiveKitAPI(target.url, target.api_key, "x" * 40) as wrong:
        got = await answer(wrong.room.list_rooms(api.ListRoomsRequest()))
    assert (got.code, got.status) == ("unknown", 401)


async def test_dial_unknown_trunk(target: Target) -> None:
    request = api.CreateSIPParticipantRequest(
        sip_trunk_id="ST_unknown", sip_call_to=SUPERVISOR, room_name="r"
    )
    got = await answer(target.lk.sip.create_sip_participant(request))
    assert (got.code, got.status, got.message) == (
        "not_found",
        404,
        "requested sip trunk does not exist",
    )


async def test_move_to_the_same_room(target: Target) -> None:
    request = api.MoveParticipantRequest(room="a", identity="x", destination_room="a")
    got = await answer(target.lk.room.move_participant(request))
    assert (got.code, got.status) == ("invalid_argument", 400)


async def test_update_subscriptions_of_nobody(target: Target) -> None:
    """Routed to the participant's media server: nobody claims it, after about 3 s."""
    await target.lk.room.create_room(api.CreateRoomRequest(name="subs"))
    request = api.UpdateSubscriptionsRequest(
        room="subs", identity="nobody", track_sids=["TR_x"], subscribe=False
    )
    got = await answer(target.lk.room.update_subscriptions(request))
    assert (got.code, got.status, got.message) == (
        "unavailable",
        503,
        PREFIX + "no response from servers",
    )
    assert 2 <= got.seconds <= 5


async def test_transfer_of_nobody(target: Target) -> None:
    await target.lk.room.create_room(api.CreateRoomRequest(name="refer"))
    request = api.TransferSIPParticipantRequest(
        room_name="refer", participant_identity="nobody", transfer_to="tel:" + SUPERVISOR
    )
    got = await answer(target.lk.sip.transfer_sip_participant(request))
    assert (got.code, got.status) == ("not_found", 404)


# -- the probe's three requests (orchestrator.livekit.probe) ------------------------------


async def test_probe_move_nobody(target: Target) -> None:
    """The open-source server has no MoveParticipant: a move naming nobody is not claimed."""
    request = api.MoveParticipantRequest(
        room="orchestrator-preflight-probe",
        identity="orchestrator-preflight-probe",
        destination_room="orchestrator-preflight-probe-2",
    )
    got = await answer(target.lk.room.move_participant(request))
    assert (got.code, got.status, got.message) == (
        "unavailable",
        503,
        PREFIX + "no response from servers",
    )
    assert 2 <= got.seconds <= 5


async def test_probe_delete_nobody(target: Target) -> None:
    request = api.DeleteRoomRequest(room="orchestrator-preflight-probe")
    got = await answer(target.lk.room.delete_room(request))
    assert (got.code, got.status) == ("not_found", 404)


async def test_probe_dial_nobody(target: Target) -> None:
    request = api.CreateSIPParticipantRequest(participant_identity="orchestrator-preflight-probe")
    got = await answer(target.lk.sip.create_sip_participant(request))
    assert (got.code, got.status, got.message) == (
        "invalid_argument",
        400,
        "missing sip trunk id and sip number",
    )


async def test_move_someone_on_oss(target: Target) -> None:
    """A participant who exists: the open-source node answers "not implemented"."""
    room = "move-someone"
    await target.call_in(room)
    request = api.MoveParticipantRequest(room=room, identity="agent", destination_room="other")
    got = await answer(target.lk.room.move_participant(request))
    assert (got.code, got.status, got.message) == ("unknown", 500, PREFIX + "not implemented")


@pytest.mark.parametrize("value", [True, "true", 1])
async def test_grants_are_typed(target: Target, value: object) -> None:
    """A grant must have its JSON type: the server reads `"roomList": "true"` as an invalid
    token (its claims do not decode), not as a grant."""
    now = int(time.time())
    claims = {"iss": target.api_key, "sub": "typed", "nbf": now, "exp": now + 600}
    token = jwt.encode({**claims, "video": {"roomList": value}}, target.api_secret)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{target.url.replace('ws', 'http', 1)}/twirp/livekit.RoomService/ListRooms",
            json={},
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        status = response.status
    assert status == (200 if value is True else 401)
