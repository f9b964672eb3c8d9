"""Conformance, part 2: dials, the legs' attributes and lifecycle, what the phones receive
when LiveKit ends a leg, SIP participants' subscriptions, REFER, webhooks.

Same rules as part 1 (`test_conformance_api.py`); the phones' side is read off the phones.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from livekit import api

from orchestrator.sandbox.scenario import PhoneSpec
from tests.e2e.conftest import Webhooks
from tests.e2e.harness.checks import PREFIX, answer, dial, left, settled, statuses
from tests.e2e.harness.targets import BUSINESS, CALLER, SUPERVISOR, Target

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
    await target.until(
        lambda: target.supervisor_calls()[0].received == ("INVITE", "ACK"), 5, "the ACK"
    )


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
    lifecycle = ["dialing", "ringing", "active", "hangup"]
    await target.until(lambda: statuses(target, "supervisor") == lifecycle, 5, str(lifecycle))
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
    # The room's events come over the agent's own connection, a moment after the API's view.
    await target.until(lambda: statuses(target, identity)[-1:] == ["active"], 5, "active")


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


async def test_the_caller_hangs_up(target: Target) -> None:
    """The caller's phone sends BYE: `hangup`, then the caller leaves."""
    room = "caller-bye"
    identity = await target.call_in(room, hangup_after=1.0)
    await left(target, room, identity)
    await target.until(lambda: statuses(target, identity)[-1:] == ["hangup"], 5, "hangup")
    assert target.caller_received() == ()  # it sent the BYE; nothing came its way


async def test_remove_the_caller(target: Target) -> None:
    room = "bye-caller"
    identity = await target.call_in(room)
    await target.lk.room.remove_participant(
        api.RoomParticipantIdentity(room=room, identity=identity)
    )
    await target.until(lambda: target.caller_received() == ("BYE",), 10, "BYE at the caller")


# -- subscriptions of SIP participants ------------------------------------------------------


async def test_sip_participants_hear_everyone_once_connected(target: Target) -> None:
    """The bridge subscribes a connected leg to every track, and the caller's (connected
    first) also to the supervisor's, published after it connected."""
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


async def test_subscriptions_wait_while_a_leg_may_not_subscribe(target: Target) -> None:
    """Without `can_subscribe` (withheld while the phone rings), the subscriptions the bridge
    asks for at the answer are not made; given back, those cut meanwhile stay cut and the
    rest are made. The engine's `in_room` withholding relies on this (engine/in_room.py)."""
    room = "withheld"
    caller = await target.call_in(room)
    await target.phones({SUPERVISOR: PhoneSpec(answer=1.0, on_brief="silent")})
    dialling = asyncio.ensure_future(answer(dial(target, room)))
    leg = api.RoomParticipantIdentity(room=room, identity="supervisor")
    deadline = time.monotonic() + 5
    while not any(
        p.identity == "supervisor"
        for p in (
            await target.lk.room.list_participants(api.ListParticipantsRequest(room=room))
        ).participants
    ):
        assert time.monotonic() < deadline, "the leg never joined"
        await asyncio.sleep(0.02)
    info = await target.lk.room.get_participant(leg)
    assert info.attributes["sip.callStatus"] in ("dialing", "ringing")
    permission = api.ParticipantPermission()
    permission.CopyFrom(info.permission)
    permission.can_subscribe = False
    update = api.UpdateParticipantRequest(room=room, identity="supervisor", permission=permission)
    await target.lk.room.update_participant(update)
    assert (await dialling).code == "ok"
    # Connected: its bridge has asked for every track; none is made (watched for 1 s).
    watched = time.monotonic() + 1
    while time.monotonic() < watched:
        for speaker in (caller, "agent"):
            assert not await target.subscribed(room, "supervisor", speaker), speaker
        await asyncio.sleep(0.1)
    callers = await target.lk.room.get_participant(
        api.RoomParticipantIdentity(room=room, identity=caller)
    )
    cut = api.UpdateSubscriptionsRequest(
        room=room,
        identity="supervisor",
        track_sids=[track.sid for track in callers.tracks],
        subscribe=False,
    )
    await target.lk.room.update_subscriptions(cut)
    update.permission.can_subscribe = True
    await target.lk.room.update_participant(update)
    deadline = time.monotonic() + 5
    while not await target.subscribed(room, "supervisor", "agent"):
        assert time.monotonic() < deadline, "the subscription kept waiting"
        await asyncio.sleep(0.1)
    assert not await target.subscribed(room, "supervisor", caller)
    after = await target.lk.room.get_participant(leg)
    assert after.permission == update.permission  # every other flag kept (DTMF, publishing)


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
    await target.until(lambda: target.caller_received() == ("REFER", "BYE"), 5, "REFER, BYE")
    await target.until(lambda: statuses(target, caller)[-1:] == ["hangup"], 5, "hangup")


# -- webhooks -------------------------------------------------------------------------------


async def test_webhooks(webhooks: Webhooks, target: Target) -> None:
    room = "hooks"
    caller = await target.call_in(room)
    # An active call may still be publishing its track: delete the room once the server
    # lists it, so that its webhook is owed.
    who = api.RoomParticipantIdentity(room=room, identity=caller)
    deadline = time.monotonic() + 10
    while not (await target.lk.room.get_participant(who)).tracks:
        assert time.monotonic() < deadline, "the caller's track was never published"
        await asyncio.sleep(0.05)
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
