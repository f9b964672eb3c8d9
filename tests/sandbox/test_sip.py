"""SIP through the real client: dial outcomes, caller ID, attributes, DTMF, transfers, trunks."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from google.protobuf.duration_pb2 import Duration
from livekit import api
from livekit.protocol import models, sip as sip_pb

from orchestrator.sandbox import Sandbox
from tests.sandbox.conftest import dial_request, record_events, run_for

PHONES = {
    "default": {"answer": 2.0, "on_brief": "accept", "decide_after": 3.0},
    "+15105550101": {"answer": "busy"},
    "+15105550102": {"answer": "decline"},
    "+15105550103": {"answer": "unavailable"},
    "+15105550104": {"answer": "no_answer"},
    "+15105550105": {"answer": "voicemail"},
    "+15105550106": {"answer": 1.0, "on_brief": "decline"},
    "+15105550107": {"answer": 1.0, "on_brief": "hangup"},
    "+15105550108": {"answer": 40.0},
}
SCENARIO = pytest.mark.livekit_sandbox(manual_clock=True, scenario={"phones": PHONES})


@SCENARIO
class TestDialOutcomes:
    async def test_answered_after_its_delay(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        events = record_events(livekit_sandbox)
        info = await run_for(
            livekit_sandbox, 2, livekit_api.sip.create_sip_participant(dial_request())
        )
        assert (info.participant_identity, info.room_name) == ("sup-1", "consult")
        assert info.sip_call_id.startswith("SCL_")
        statuses: list[str] = []
        for e in events:
            if e.participant and e.kind in (
                "participant_joined",
                "participant_attributes_changed",
            ):
                status = e.participant.attributes["sip.callStatus"]
                statuses += [status] if statuses[-1:] != [status] else []
        assert statuses == ["dialing", "ringing", "active"]

    @pytest.mark.parametrize(
        ("number", "code", "status", "sip_code", "reason"),
        [
            (
                "+15105550101",
                "resource_exhausted",
                429,
                486,
                models.DisconnectReason.USER_REJECTED,
            ),
            ("+15105550102", "permission_denied", 403, 603, models.DisconnectReason.USER_REJECTED),
            (
                "+15105550103",
                "resource_exhausted",
                429,
                480,
                models.DisconnectReason.USER_UNAVAILABLE,
            ),
        ],
    )
    async def test_sip_failures_carry_the_status(
        self,
        livekit_sandbox: Sandbox,
        livekit_api: api.LiveKitAPI,
        number: str,
        code: str,
        status: int,
        sip_code: int,
        reason: int,
    ) -> None:
        events = record_events(livekit_sandbox)
        with pytest.raises(api.SipCallError) as caught:
            await run_for(
                livekit_sandbox, 1, livekit_api.sip.create_sip_participant(dial_request(number))
            )
        assert (caught.value.code, caught.value.status) == (code, status)
        assert caught.value.sip_status_code == sip_code
        left = events[-1]
        assert left.kind == "participant_left"
        assert left.participant is not None
        assert left.participant.disconnect_reason == reason

    @pytest.mark.parametrize("number", ["+15105550104", "+15105550108"])
    async def test_no_answer_is_canceled_without_sip_metadata(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI, number: str
    ) -> None:
        request = dial_request(number, ringing_timeout=Duration(seconds=20))
        call = livekit_api.sip.create_sip_participant(request)
        with pytest.raises(api.TwirpError) as caught:
            await run_for(livekit_sandbox, 20, call)
        assert not isinstance(caught.value, api.SipCallError)
        assert (caught.value.code, caught.value.status) == ("canceled", 408)
        assert caught.value.metadata == {}

    async def test_ringing_timeout_not_reached_yet(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        call = asyncio.ensure_future(
            livekit_api.sip.create_sip_participant(
                dial_request("+15105550104", ringing_timeout=Duration(seconds=20))
            )
        )
        await livekit_sandbox.wait_for(lambda: livekit_sandbox.started == 1)
        await livekit_sandbox.manual_clock.advance(19.9)
        assert not call.done()
        assert livekit_sandbox.legs.get("consult", "sup-1") is not None
        await livekit_sandbox.manual_clock.advance(0.1)
        with pytest.raises(api.TwirpError):
            await call

    async def test_without_waiting_failure_shows_as_leaving(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        events = record_events(livekit_sandbox)
        info = await livekit_api.sip.create_sip_participant(
            dial_request("+15105550101", wait_until_answered=False)
        )
        assert info.participant_identity == "sup-1"
        member = livekit_sandbox.world.member("consult", "sup-1")
        assert member is not None
        assert member.info.attributes["sip.callStatus"] == "dialing"
        await livekit_sandbox.manual_clock.advance(1)
        assert events[-1].kind == "participant_left"

    async def test_dtmf_sent_after_answer(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        events = record_events(livekit_sandbox)
        await run_for(
            livekit_sandbox, 5, livekit_api.sip.create_sip_participant(dial_request(dtmf="ww12#"))
        )
        statuses = [
            e.participant.attributes.get("sip.callStatus")
            for e in events
            if e.participant is not None
        ]
        assert statuses[-2:] == ["automation", "active"]


@SCENARIO
class TestBrief:
    async def test_accept_presses_one(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        events = record_events(livekit_sandbox)
        await run_for(livekit_sandbox, 2, livekit_api.sip.create_sip_participant(dial_request()))
        await livekit_sandbox.manual_clock.advance(2.9)
        assert not [e for e in events if e.kind == "sip_dtmf_received"]
        await livekit_sandbox.manual_clock.advance(0.1)
        (dtmf,) = [e for e in events if e.kind == "sip_dtmf_received"]
        assert dtmf.digit == "1"
        assert dtmf.participant is not None
        assert dtmf.participant.identity == "sup-1"

    async def test_decline_presses_two(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        events = record_events(livekit_sandbox)
        await run_for(
            livekit_sandbox,
            1,
            livekit_api.sip.create_sip_participant(dial_request("+15105550106")),
        )
        await livekit_sandbox.manual_clock.advance(1)
        assert [e.digit for e in events if e.kind == "sip_dtmf_received"] == ["2"]

    async def test_hangup_during_brief(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        events = record_events(livekit_sandbox)
        await run_for(
            livekit_sandbox,
            1,
            livekit_api.sip.create_sip_participant(dial_request("+15105550107")),
        )
        await livekit_sandbox.manual_clock.advance(1)
        last = events[-1]
        assert last.kind == "participant_left"
        assert last.participant is not None
        assert last.participant.attributes["sip.callStatus"] == "hangup"
        assert last.participant.disconnect_reason == models.DisconnectReason.CLIENT_INITIATED

    async def test_voicemail_answers_and_never_reacts(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        events = record_events(livekit_sandbox)
        await run_for(
            livekit_sandbox,
            2,
            livekit_api.sip.create_sip_participant(dial_request("+15105550105")),
        )
        await livekit_sandbox.manual_clock.advance(600)
        assert not [e for e in events if e.kind in ("sip_dtmf_received", "participant_left")]


class TestCallerId:
    @pytest.mark.livekit_sandbox(
        manual_clock=True, scenario={"trunk": {"caller_id_policy": "owned_only"}}
    )
    async def test_owned_only_trunk_refuses_the_callers_number(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        with pytest.raises(api.SipCallError) as caught:
            await run_for(
                livekit_sandbox,
                1,
                livekit_api.sip.create_sip_participant(dial_request(sip_number="+14155552671")),
            )
        assert (caught.value.code, caught.value.sip_status_code) == ("permission_denied", 403)
        info = await run_for(
            livekit_sandbox,
            2,
            livekit_api.sip.create_sip_participant(dial_request(sip_number="+18005550100")),
        )
        assert info.participant_identity == "sup-1"

    @pytest.mark.livekit_sandbox(manual_clock=True)
    async def test_from_number_and_attributes(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        await run_for(
            livekit_sandbox,
            2,
            livekit_api.sip.create_sip_participant(
                dial_request(
                    sip_number="+14155552671",
                    participant_identity="",
                    participant_attributes={"sip.callStatus": "x", "role": "supervisor"},
                )
            ),
        )
        member = livekit_sandbox.world.member(
            "consult", "sip_+15105550100"
        )  # LiveKit's default identity
        assert member is not None
        attributes = dict(member.info.attributes)
        assert attributes["sip.trunkPhoneNumber"] == "+14155552671"
        assert attributes["sip.phoneNumber"] == "+15105550100"
        assert attributes["sip.trunkID"] == "ST_sandbox"
        assert attributes["sip.callStatus"] == "active"  # system keys win over the request's
        assert attributes["role"] == "supervisor"

    @pytest.mark.livekit_sandbox(manual_clock=True)
    async def test_hide_phone_number(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        await run_for(
            livekit_sandbox,
            2,
            livekit_api.sip.create_sip_participant(dial_request(hide_phone_number=True)),
        )
        member = livekit_sandbox.world.member("consult", "sup-1")
        assert member is not None
        assert not {"sip.phoneNumber", "sip.trunkPhoneNumber", "sip.hostname"} & set(
            member.info.attributes
        )


class TestValidation:
    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"sip_trunk_id": "", "sip_number": ""}, "missing sip trunk id and sip number"),
            ({"sip_call_to": ""}, "missing sip callee number"),
            (
                {"sip_call_to": "sup@pbx.example.com"},
                "SipCallTo should be a phone number or SIP user, not a full SIP URI",
            ),
            ({"room_name": ""}, "missing room name"),
            (
                {"headers": {"From": "<sip:x@y>"}},
                "invalid header name: header name From not supported",
            ),
        ],
    )
    async def test_invalid_arguments(
        self, livekit_api: api.LiveKitAPI, fields: dict[str, object], message: str
    ) -> None:
        with pytest.raises(api.TwirpError) as caught:
            await livekit_api.sip.create_sip_participant(dial_request(**fields))
        assert (caught.value.code, caught.value.message) == ("invalid_argument", message)

    async def test_unknown_trunk(self, livekit_api: api.LiveKitAPI) -> None:
        with pytest.raises(api.TwirpError) as caught:
            await livekit_api.sip.create_sip_participant(dial_request(sip_trunk_id="ST_nope"))
        assert (caught.value.code, caught.value.status) == ("not_found", 404)

    async def test_trunk_without_numbers(self, livekit_api: api.LiveKitAPI) -> None:
        trunk = await livekit_api.sip.create_outbound_trunk(
            api.CreateSIPOutboundTrunkRequest(
                trunk=api.SIPOutboundTrunkInfo(name="empty", address="sip.example.com")
            )
        )
        with pytest.raises(api.TwirpError) as caught:
            await livekit_api.sip.create_sip_participant(
                dial_request(sip_trunk_id=trunk.sip_trunk_id)
            )
        assert (caught.value.code, caught.value.status) == ("failed_precondition", 412)

    async def test_missing_sip_grant(self, livekit_sandbox: Sandbox) -> None:
        minted = (
            api.AccessToken(livekit_sandbox.api_key, livekit_sandbox.api_secret)
            .with_grants(api.VideoGrants(room_admin=True))
            .to_jwt()
        )
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                livekit_sandbox.url + "/twirp/livekit.SIP/CreateSIPParticipant",
                data=dial_request().SerializeToString(),
                headers={
                    "Authorization": f"Bearer {minted}",
                    "Content-Type": "application/protobuf",
                },
            ) as reply,
        ):
            assert reply.status == 401
            assert (await reply.json())["code"] == "unauthenticated"


async def test_trunk_api(livekit_api: api.LiveKitAPI) -> None:
    created = await livekit_api.sip.create_outbound_trunk(
        api.CreateSIPOutboundTrunkRequest(
            trunk=api.SIPOutboundTrunkInfo(
                name="carrier", address="sip.example.com", numbers=["+18005550111"]
            )
        )
    )
    assert created.sip_trunk_id.startswith("ST_")
    listed = await livekit_api.sip.list_outbound_trunk(api.ListSIPOutboundTrunkRequest())
    assert created.sip_trunk_id in [t.sip_trunk_id for t in listed.items]
    deleted = await livekit_api.sip.delete_trunk(
        api.DeleteSIPTrunkRequest(sip_trunk_id=created.sip_trunk_id)
    )
    assert deleted.sip_trunk_id == created.sip_trunk_id


@pytest.mark.livekit_sandbox(manual_clock=True)
async def test_replayed_dial_with_the_same_request_id_dials_once(livekit_sandbox: Sandbox) -> None:
    """LiveKit Cloud dedups by X-Livekit-Request-Id; the sandbox does too, so replays are safe."""
    minted = (
        api.AccessToken(livekit_sandbox.api_key, livekit_sandbox.api_secret)
        .with_sip_grants(api.SIPGrants(call=True))
        .to_jwt()
    )
    headers = {
        "Authorization": f"Bearer {minted}",
        "Content-Type": "application/protobuf",
        "X-Livekit-Request-Id": "req-1",
    }
    body = dial_request().SerializeToString()
    url = livekit_sandbox.url + "/twirp/livekit.SIP/CreateSIPParticipant"
    events = record_events(livekit_sandbox)

    async def send(session: aiohttp.ClientSession) -> bytes:
        async with session.post(url, data=body, headers=headers) as reply:
            return await reply.read()

    async with aiohttp.ClientSession() as session:
        calls = asyncio.gather(send(session), send(session))
        await livekit_sandbox.wait_for(lambda: livekit_sandbox.started == 2)
        await livekit_sandbox.manual_clock.advance(2)
        first, second = await calls
    assert first == second
    assert sip_pb.SIPParticipantInfo.FromString(first).participant_identity == "sup-1"
    assert [e.kind for e in events].count("participant_joined") == 1


@SCENARIO
class TestTransfer:
    async def test_cold_transfer_of_the_caller(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        caller = livekit_sandbox.place_caller("call-1")
        events = record_events(livekit_sandbox)
        request = api.TransferSIPParticipantRequest(
            room_name="call-1", participant_identity=caller, transfer_to="tel:+15105550199"
        )
        answer = await run_for(
            livekit_sandbox, 2, livekit_api.sip.transfer_sip_participant(request)
        )
        assert answer.status == sip_pb.SIPTransferStatus.STS_TRANSFER_SUCCESSFUL
        assert answer.reason == sip_pb.SIPTransferReason.STR_COMPLETED
        assert answer.transfer_id.startswith("STR_")
        await livekit_sandbox.manual_clock.advance(1)
        left = events[-1]
        assert left.kind == "participant_left"
        assert left.participant is not None
        assert left.participant.disconnect_reason == models.DisconnectReason.CLIENT_INITIATED

    async def test_bare_number_is_refused(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        caller = livekit_sandbox.place_caller("call-1")
        with pytest.raises(api.TwirpError) as caught:
            await livekit_api.sip.transfer_sip_participant(
                api.TransferSIPParticipantRequest(
                    room_name="call-1", participant_identity=caller, transfer_to="+15105550199"
                )
            )
        assert caught.value.code == "invalid_argument"
        assert (
            caught.value.message
            == "transfer_to must be a valid SIP(s) or TEL URI (sip:, sips: or tel:)"
        )

    async def test_rejected_transfer_carries_sip_status(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        caller = livekit_sandbox.place_caller("call-1")
        request = api.TransferSIPParticipantRequest(
            room_name="call-1",
            participant_identity=caller,
            transfer_to="sip:+15105550101@pbx.example.com",
        )
        with pytest.raises(api.SipCallError) as caught:
            await run_for(livekit_sandbox, 1, livekit_api.sip.transfer_sip_participant(request))
        assert caught.value.sip_status_code == 486
        assert caught.value.sip_transfer_reason == "STR_REJECTED"

    @pytest.mark.parametrize(
        ("room", "identity", "message"),
        [("", "x", "Missing room name"), ("call-1", "", "Missing participant identity")],
    )
    async def test_missing_fields_are_checked_before_auth(
        self, livekit_sandbox: Sandbox, room: str, identity: str, message: str
    ) -> None:
        """Even a token with no grant at all gets invalid_argument, not 401."""
        bare = api.AccessToken(livekit_sandbox.api_key, livekit_sandbox.api_secret).to_jwt()
        client = api.LiveKitAPI(livekit_sandbox.url, token=bare)
        try:
            with pytest.raises(api.TwirpError) as caught:
                await client.sip.transfer_sip_participant(
                    api.TransferSIPParticipantRequest(
                        room_name=room, participant_identity=identity, transfer_to="tel:+1"
                    )
                )
            assert (caught.value.code, caught.value.message) == ("invalid_argument", message)
        finally:
            await client.aclose()

    @pytest.mark.parametrize("grant", ["sip_call_only", "room_admin_only"])
    async def test_needs_sip_call_and_room_admin(
        self, livekit_sandbox: Sandbox, grant: str
    ) -> None:
        caller = livekit_sandbox.place_caller("call-1")
        token = api.AccessToken(livekit_sandbox.api_key, livekit_sandbox.api_secret)
        if grant == "sip_call_only":
            token = token.with_sip_grants(api.SIPGrants(call=True))
        else:
            token = token.with_grants(api.VideoGrants(room_admin=True, room="call-1"))
        client = api.LiveKitAPI(livekit_sandbox.url, token=token.to_jwt())
        try:
            with pytest.raises(api.TwirpError) as caught:
                await client.sip.transfer_sip_participant(
                    api.TransferSIPParticipantRequest(
                        room_name="call-1",
                        participant_identity=caller,
                        transfer_to="tel:+15105550199",
                    )
                )
            assert (caught.value.code, caught.value.status) == ("unauthenticated", 401)
        finally:
            await client.aclose()

    @pytest.mark.parametrize(
        ("identity", "code", "message"),
        [
            ("nobody", "not_found", "twirp error unknown: participant does not exist"),
            ("agent", "invalid_argument", "no SIP session associated with participant"),
        ],
    )
    async def test_unknown_and_non_sip_participants(
        self,
        livekit_sandbox: Sandbox,
        livekit_api: api.LiveKitAPI,
        identity: str,
        code: str,
        message: str,
    ) -> None:
        livekit_sandbox.place_caller("call-1")
        livekit_sandbox.add_agent("call-1")
        with pytest.raises(api.TwirpError) as caught:
            await livekit_api.sip.transfer_sip_participant(
                api.TransferSIPParticipantRequest(
                    room_name="call-1",
                    participant_identity=identity,
                    transfer_to="tel:+1510555019",
                )
            )
        assert (caught.value.code, caught.value.message) == (code, message)

    async def test_caller_hanging_up_mid_transfer(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        """The REFER was accepted, then the call ended: an answer at once, `call ended`."""
        caller = livekit_sandbox.place_caller("call-1")
        request = api.TransferSIPParticipantRequest(
            room_name="call-1", participant_identity=caller, transfer_to="tel:+15105550108"
        )
        call = asyncio.ensure_future(livekit_api.sip.transfer_sip_participant(request))
        await livekit_sandbox.wait_for(lambda: livekit_sandbox.started == 1)
        await livekit_sandbox.manual_clock.advance(1)
        livekit_sandbox.hang_up("call-1", caller)
        answer = await call
        assert (answer.status, answer.reason) == (
            sip_pb.SIPTransferStatus.STS_TRANSFER_FAILED,
            sip_pb.SIPTransferReason.STR_CALL_ENDED,
        )
        assert livekit_sandbox.manual_clock.now() == 1

    async def test_second_transfer_elsewhere_and_the_same_again(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        caller = livekit_sandbox.place_caller("call-1")

        def to(uri: str) -> api.TransferSIPParticipantRequest:
            return api.TransferSIPParticipantRequest(
                room_name="call-1", participant_identity=caller, transfer_to=uri
            )

        pending = asyncio.ensure_future(
            livekit_api.sip.transfer_sip_participant(to("tel:+15105550199"))
        )
        await livekit_sandbox.wait_for(lambda: livekit_sandbox.started == 1)
        with pytest.raises(api.TwirpError) as caught:
            await livekit_api.sip.transfer_sip_participant(to("tel:+15105550198"))
        assert caught.value.message == "call already being transferred elsewhere"
        again = asyncio.ensure_future(
            livekit_api.sip.transfer_sip_participant(to("tel:+15105550199"))
        )
        await livekit_sandbox.wait_for(lambda: livekit_sandbox.started == 3)
        await livekit_sandbox.manual_clock.advance(2)
        successful = sip_pb.SIPTransferStatus.STS_TRANSFER_SUCCESSFUL
        assert (await pending).status == (await again).status == successful

    async def test_not_established(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        await livekit_api.sip.create_sip_participant(dial_request(wait_until_answered=False))
        with pytest.raises(api.TwirpError) as caught:
            await livekit_api.sip.transfer_sip_participant(
                api.TransferSIPParticipantRequest(
                    room_name="consult",
                    participant_identity="sup-1",
                    transfer_to="tel:+15105550199",
                )
            )
        assert (caught.value.code, caught.value.message) == (
            "failed_precondition",
            "can't transfer non established call",
        )

    @pytest.mark.livekit_sandbox(manual_clock=True, flavor="oss")
    async def test_open_source_answers_an_empty_response(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        caller = livekit_sandbox.place_caller("call-1")
        request = api.TransferSIPParticipantRequest(
            room_name="call-1", participant_identity=caller, transfer_to="tel:+15105550199"
        )
        answer = await run_for(
            livekit_sandbox, 1, livekit_api.sip.transfer_sip_participant(request)
        )
        assert answer.status == sip_pb.SIPTransferStatus.STS_TRANSFER_ONGOING
        assert not answer.transfer_id


@pytest.mark.livekit_sandbox(manual_clock=True, scenario={"caller": {"hangup_after": 4.0}})
async def test_caller_hangs_up_on_schedule(
    livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
) -> None:
    """`hangup_after` counts from the transfer's start: the first request naming the room."""
    events = record_events(livekit_sandbox)
    caller = livekit_sandbox.place_caller("call-1")
    await livekit_sandbox.manual_clock.advance(100)
    assert livekit_sandbox.world.member("call-1", caller) is not None
    await livekit_api.room.list_participants(api.ListParticipantsRequest(room="call-1"))
    await livekit_sandbox.manual_clock.advance(3.9)
    assert livekit_sandbox.world.member("call-1", caller) is not None
    await livekit_sandbox.manual_clock.advance(0.1)
    left = events[-1]
    assert (left.kind, left.room) == ("participant_left", "call-1")
    assert left.participant is not None
    assert left.participant.attributes["sip.callStatus"] == "hangup"


@pytest.mark.livekit_sandbox(manual_clock=True, scenario={"phones": {"default": {"answer": 2.0}}})
async def test_deleting_the_room_cancels_a_ringing_supervisor(
    livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
) -> None:
    """Deleting the consult room while the supervisor rings ends the dial (and the RPC)."""
    call = asyncio.ensure_future(livekit_api.sip.create_sip_participant(dial_request()))
    await livekit_sandbox.wait_for(lambda: livekit_sandbox.started == 1)
    await livekit_sandbox.manual_clock.advance(1)
    await livekit_api.room.delete_room(api.DeleteRoomRequest(room="consult"))
    with pytest.raises(api.TwirpError) as caught:
        await call
    assert caught.value.code == "canceled"
    assert livekit_sandbox.legs.legs == {}


@pytest.mark.livekit_sandbox(manual_clock=True, scenario={"phones": PHONES})
async def test_dialling_an_identity_twice_keeps_the_new_leg(
    livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
) -> None:
    await livekit_api.sip.create_sip_participant(dial_request(wait_until_answered=False))
    second = await run_for(
        livekit_sandbox, 2, livekit_api.sip.create_sip_participant(dial_request())
    )
    leg = livekit_sandbox.legs.get("consult", "sup-1")
    assert leg is not None
    assert leg.call_id == second.sip_call_id
    assert leg.status == "active"


async def test_out_of_range_duration_is_invalid(livekit_api: api.LiveKitAPI) -> None:
    for seconds in (-5, 10**12):
        with pytest.raises(api.TwirpError) as caught:
            await livekit_api.sip.create_sip_participant(
                dial_request(wait_until_answered=False, ringing_timeout=Duration(seconds=seconds))
            )
        assert caught.value.code == "invalid_argument"


async def test_stopping_with_a_dial_in_flight_ends_it_at_once() -> None:
    from orchestrator.clock import ManualClock

    clock = ManualClock()
    sandbox = Sandbox(clock=clock)
    await sandbox.start()
    client = api.LiveKitAPI(sandbox.url, sandbox.api_key, sandbox.api_secret)
    try:
        call = asyncio.ensure_future(client.sip.create_sip_participant(dial_request()))
        await sandbox.wait_for(lambda: sandbox.started == 1)
        await sandbox.stop()
        with pytest.raises(api.TwirpError) as caught:
            await call
    finally:
        await client.aclose()
    assert caught.value.code == "canceled"
    assert clock.now() == 0
