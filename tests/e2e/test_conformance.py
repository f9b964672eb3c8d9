"""Conformance: the same API-level checks against the sandbox (flavor oss) and the real stack.

Each check asserts what the real server and SIP bridge do (livekit-server and livekit-sip at
the versions of `stack/versions.env`), through the unmodified `livekit-api` client, with the
phones' side read off the phones: every RPC the engine and the sandbox's users rely on, and
every answer the engine interprets. The sandbox must pass them too; where it cannot model
something, the check is an `xfail` whose reason README "What the sandbox cannot tell you"
lists.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

import pytest
from livekit import api

from orchestrator.sandbox.scenario import PhoneSpec
from tests.e2e.conftest import Webhooks
from tests.e2e.targets import BUSINESS, CALLER, Target

PREFIX = "twirp error unknown: "
SUPERVISOR = "+15105550100"


@dataclass(frozen=True)
class Answer:
    code: str
    status: int
    message: str
    sip_status: int | None
    seconds: float


async def answer(call: Any) -> Answer:
    """The error (or `ok`) a request got, normalized for comparison."""
    started = time.monotonic()
    try:
        await call
    except api.TwirpError as error:
        sip = error.sip_status_code if isinstance(error, api.SipCallError) else None
        took = round(time.monotonic() - started, 1)
        return Answer(error.code, error.status, error.message, sip, took)
    return Answer("ok", 200, "", None, round(time.monotonic() - started, 1))


def dial(
    target: Target,
    room: str,
    number: str = SUPERVISOR,
    *,
    identity: str = "supervisor",
    caller_id: str = CALLER,
    ring: float = 3.0,
    wait: bool = True,
) -> Any:
    request = api.CreateSIPParticipantRequest(
        sip_trunk_id=target.trunk,
        sip_call_to=number,
        sip_number=caller_id,
        room_name=room,
        participant_identity=identity,
        participant_attributes={"transfer.role": "supervisor"},
        wait_until_answered=wait,
    )
    request.ringing_timeout.FromNanoseconds(int(ring * 1e9))
    return target.lk.sip.create_sip_participant(request, timeout=ring + 10)


def statuses(target: Target, identity: str) -> list[str]:
    """The `sip.callStatus` values `identity` went through (at its join, then each change)."""
    seen: list[str] = []
    for kind, who, detail in target.events:
        if who == identity and kind in ("joined", "attributes"):
            status = json.loads(detail).get("sip.callStatus")
            if status and (not seen or seen[-1] != status):
                seen.append(status)
    return seen


async def left(target: Target, room: str, identity: str) -> None:
    async def gone() -> bool:
        listing = await target.lk.room.list_participants(api.ListParticipantsRequest(room=room))
        return all(p.identity != identity for p in listing.participants)

    deadline = time.monotonic() + 10
    while not await gone():
        assert time.monotonic() < deadline, f"{identity} still in {room}"
        await asyncio.sleep(0.05)


async def settled(target: Target, expected: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """What the supervisors' phones received, once it is `expected` (or after 10 s)."""
    with contextlib.suppress(TimeoutError):
        await target.until(
            lambda: [c.received for c in target.supervisor_calls()] == expected,
            10,
            "the phones' messages",
        )
    return [c.received for c in target.supervisor_calls()]


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


# -- dials: SIP failures, caller ID, the legs' attributes --------------------------------

FAILURES = [
    ("busy", "resource_exhausted", 429, 486),
    ("unavailable", "resource_exhausted", 429, 480),
    ("decline", "permission_denied", 403, 603),
    ("request_timeout", "deadline_exceeded", 408, 408),
]


@pytest.mark.parametrize(("answer_as", "code", "status", "sip"), FAILURES)
async def test_dial_refused(
    target: Target, answer_as: str, code: str, status: int, sip: int
) -> None:
    await target.phones({SUPERVISOR: PhoneSpec(answer=answer_as)})  # type: ignore[arg-type]
    got = await answer(dial(target, "refused"))
    assert (got.code, got.status, got.sip_status) == (code, status, sip)
    assert await settled(target, [("INVITE", "ACK")]) == [("INVITE", "ACK")]
    await left(target, "refused", "supervisor")


async def test_dial_caller_id_refused_by_carrier(target: Target) -> None:
    """A carrier that allows only the trunk's own numbers in From answers 403."""
    await target.phones({SUPERVISOR: PhoneSpec(answer=0.2)}, owned_only=True)
    got = await answer(dial(target, "cid"))
    assert (got.code, got.status, got.sip_status) == ("permission_denied", 403, 403)
    again = await answer(dial(target, "cid", caller_id=BUSINESS, identity="supervisor-2"))
    assert again.code == "ok"
    invites = target.supervisor_calls()
    assert [c.from_user for c in invites] == [CALLER, BUSINESS]
    assert invites[0].received == ("INVITE", "ACK")


async def test_dial_no_answer(target: Target) -> None:
    await target.phones({SUPERVISOR: PhoneSpec(answer="no_answer")})
    got = await answer(dial(target, "silence", ring=2.0))
    assert (got.code, got.status, got.sip_status) == ("canceled", 408, None)
    assert got.message == PREFIX + "sip request timed out"
    assert 1.5 <= got.seconds <= 4
    assert await settled(target, [("INVITE", "CANCEL")]) == [("INVITE", "CANCEL")]


async def test_dial_shows_the_caller_id_in_from(target: Target) -> None:
    """The product's core claim: From user = `sip_number`; the trunk's number otherwise."""
    await target.phones({SUPERVISOR: PhoneSpec(answer=0.2, on_brief="silent")})
    assert (await answer(dial(target, "from"))).code == "ok"
    request = api.CreateSIPParticipantRequest(
        sip_trunk_id=target.trunk,
        sip_call_to=SUPERVISOR,
        room_name="from",
        participant_identity="second",
        wait_until_answered=True,
    )
    assert (await answer(target.lk.sip.create_sip_participant(request))).code == "ok"
    assert [c.from_user for c in target.supervisor_calls()] == [CALLER, BUSINESS]


async def test_outbound_leg_lifecycle(target: Target) -> None:
    """dialing (at the join) -> ringing -> active; a remote BYE -> hangup, then it leaves."""
    room = "lifecycle"
    await target.call_in(room)
    await target.phones({SUPERVISOR: PhoneSpec(answer=0.5, on_brief="silent")})
    assert (await answer(dial(target, room))).code == "ok"
    info = await target.lk.room.get_participant(
        api.RoomParticipantIdentity(room=room, identity="supervisor")
    )
    assert info.kind == api.ParticipantInfo.Kind.SIP
    assert len(info.tracks) == 1
    sip = {k: v for k, v in info.attributes.items() if k.startswith("sip.")}
    assert set(sip) == {
        *("sip.callID", "sip.callIDFull", "sip.callStatus", "sip.callTag", "sip.hostname"),
        *("sip.phoneNumber", "sip.trunkID", "sip.trunkPhoneNumber"),
    }
    assert sip["sip.phoneNumber"] == SUPERVISOR
    assert sip["sip.trunkPhoneNumber"] == CALLER
    assert sip["sip.trunkID"] == target.trunk
    assert sip["sip.callID"].startswith("SCL_")
    assert info.attributes["transfer.role"] == "supervisor"
    await target.hang_up_supervisor()
    await left(target, room, "supervisor")
    assert statuses(target, "supervisor") == ["dialing", "ringing", "active", "hangup"]
    assert await settled(target, [("INVITE", "ACK")]) == [("INVITE", "ACK")]


async def test_inbound_caller_attributes(target: Target) -> None:
    room = "inbound"
    identity = await target.call_in(room)
    assert identity == f"sip_{CALLER}"
    info = await target.lk.room.get_participant(
        api.RoomParticipantIdentity(room=room, identity=identity)
    )
    sip = {k: v for k, v in info.attributes.items() if k.startswith("sip.")}
    assert set(sip) == {
        *("sip.callID", "sip.callIDFull", "sip.callStatus", "sip.callTag", "sip.hostname"),
        *("sip.phoneNumber", "sip.ruleID", "sip.trunkID", "sip.trunkPhoneNumber"),
    }
    assert sip["sip.phoneNumber"] == CALLER
    assert sip["sip.callStatus"] == "active"
    assert statuses(target, identity)[-1] == "active"


async def test_hide_phone_number(target: Target) -> None:
    await target.phones({SUPERVISOR: PhoneSpec(answer=0.2, on_brief="silent")})
    request = api.CreateSIPParticipantRequest(
        sip_trunk_id=target.trunk,
        sip_call_to=SUPERVISOR,
        sip_number=CALLER,
        room_name="hidden",
        participant_identity="supervisor",
        wait_until_answered=True,
        hide_phone_number=True,
    )
    await target.lk.sip.create_sip_participant(request)
    info = await target.lk.room.get_participant(
        api.RoomParticipantIdentity(room="hidden", identity="supervisor")
    )
    hidden = {"sip.phoneNumber", "sip.hostname", "sip.trunkPhoneNumber"}
    assert not hidden & set(info.attributes)


async def test_attributes_merge_and_delete(target: Target) -> None:
    room = "attributes"
    identity = await target.call_in(room)
    update = target.lk.room.update_participant
    await update(api.UpdateParticipantRequest(room=room, identity=identity, attributes={"a": "1"}))
    await update(api.UpdateParticipantRequest(room=room, identity=identity, attributes={"b": "2"}))
    await update(api.UpdateParticipantRequest(room=room, identity=identity, attributes={"a": ""}))
    info = await update(api.UpdateParticipantRequest(room=room, identity=identity))
    assert info.attributes["b"] == "2"
    assert "a" not in info.attributes
    assert info.attributes["sip.phoneNumber"] == CALLER


# -- ending legs: what the phones get ------------------------------------------------------


@pytest.mark.parametrize("how", ["remove", "delete_room"])
async def test_end_a_ringing_leg(target: Target, how: str) -> None:
    """The bridge CANCELs the INVITE; the waiting dial answers like a no-answer."""
    room = f"ringing-{how}"
    await target.phones({SUPERVISOR: PhoneSpec(answer="no_answer")})
    await target.lk.room.create_room(api.CreateRoomRequest(name=room))
    pending = asyncio.ensure_future(answer(dial(target, room, ring=20)))
    await target.until(
        lambda: [c.received for c in target.supervisor_calls()] == [("INVITE",)],
        10,
        "the phone ringing",
    )
    if how == "remove":
        who = api.RoomParticipantIdentity(room=room, identity="supervisor")
        await target.lk.room.remove_participant(who)
    else:
        await target.lk.room.delete_room(api.DeleteRoomRequest(room=room))
    got = await pending
    assert (got.code, got.status, got.sip_status) == ("canceled", 408, None)
    assert got.message == PREFIX + "sip request timed out"
    assert await settled(target, [("INVITE", "CANCEL")]) == [("INVITE", "CANCEL")]


@pytest.mark.parametrize("how", ["remove", "delete_room"])
async def test_end_an_answered_leg(target: Target, how: str) -> None:
    room = f"answered-{how}"
    await target.phones({SUPERVISOR: PhoneSpec(answer=0.2, on_brief="silent")})
    assert (await answer(dial(target, room))).code == "ok"
    if how == "remove":
        who = api.RoomParticipantIdentity(room=room, identity="supervisor")
        await target.lk.room.remove_participant(who)
    else:
        await target.lk.room.delete_room(api.DeleteRoomRequest(room=room))
    assert await settled(target, [("INVITE", "ACK", "BYE")]) == [("INVITE", "ACK", "BYE")]


async def test_remove_the_caller(target: Target) -> None:
    room = "bye-caller"
    identity = await target.call_in(room)
    await target.lk.room.remove_participant(
        api.RoomParticipantIdentity(room=room, identity=identity)
    )
    await target.until(lambda: target.caller_received() == ("BYE",), 10, "BYE at the caller")


# -- subscriptions of SIP participants ------------------------------------------------------


async def test_sip_participants_hear_everyone_once_connected(target: Target) -> None:
    """The bridge subscribes a connected leg to every track, also ones published later."""
    room = "hearing"
    caller = await target.call_in(room)
    await target.phones({SUPERVISOR: PhoneSpec(answer=0.2, on_brief="silent")})
    assert (await answer(dial(target, room))).code == "ok"
    for listener, speaker in [
        (caller, "supervisor"),
        ("supervisor", caller),
        ("supervisor", "agent"),
        (caller, "agent"),
    ]:

        async def hears(listener: str = listener, speaker: str = speaker) -> bool:
            return await target.subscribed(room, listener, speaker)

        deadline = time.monotonic() + 5
        while not await hears():
            assert time.monotonic() < deadline, f"{listener} never heard {speaker}"
            await asyncio.sleep(0.1)


async def test_update_subscriptions_of_a_sip_participant(target: Target) -> None:
    room = "subscriptions"
    caller = await target.call_in(room)
    await target.phones({SUPERVISOR: PhoneSpec(answer=0.2, on_brief="silent")})
    assert (await answer(dial(target, room))).code == "ok"
    info = await target.lk.room.get_participant(
        api.RoomParticipantIdentity(room=room, identity="supervisor")
    )
    sids = [track.sid for track in info.tracks]
    for subscribe in (False, True):
        request = api.UpdateSubscriptionsRequest(
            room=room, identity=caller, track_sids=sids, subscribe=subscribe
        )
        await target.lk.room.update_subscriptions(request)
        deadline = time.monotonic() + 5
        while await target.subscribed(room, caller, "supervisor") != subscribe:
            assert time.monotonic() < deadline, f"subscribe={subscribe} not applied"
            await asyncio.sleep(0.1)


# -- cold transfer (REFER) ----------------------------------------------------------------


async def test_transfer_sip_participant(target: Target) -> None:
    """The caller's phone gets a REFER; once it reports the transfer done, LiveKit hangs up
    its leg (BYE); the open-source server answers an empty message (status ONGOING)."""
    room = "refer"
    caller = await target.call_in(room)
    request = api.TransferSIPParticipantRequest(
        room_name=room, participant_identity=caller, transfer_to=f"sip:{SUPERVISOR}@127.0.0.1"
    )
    result = await target.lk.sip.transfer_sip_participant(request, timeout=20)
    assert result.status == api.SIPTransferStatus.STS_TRANSFER_ONGOING
    await left(target, room, caller)
    assert target.caller_received() == ("REFER", "BYE")
    assert statuses(target, caller)[-1] == "hangup"


# -- webhooks -------------------------------------------------------------------------------


async def test_webhooks(webhooks: Webhooks, target: Target) -> None:
    room = "hooks"
    caller = await target.call_in(room)
    await target.lk.room.delete_room(api.DeleteRoomRequest(room=room))
    wanted = {
        ("room_started", ""),
        ("participant_joined", "agent"),
        ("participant_joined", caller),
        ("track_published", caller),
        ("participant_left", caller),
        ("room_finished", ""),
    }
    with contextlib.suppress(TimeoutError):
        await target.until(
            lambda: wanted <= {(e, who) for e, name, who in webhooks.events if name == room},
            10,
            "the webhooks",
        )
    assert wanted <= {(e, who) for e, name, who in webhooks.events if name == room}
    assert webhooks.refused == 0, webhooks.events
