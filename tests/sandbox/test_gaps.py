"""Smaller behaviours of the sandbox, each checked through the real client."""

from __future__ import annotations

from pathlib import Path

import pytest
from livekit import api

from orchestrator.sandbox import Sandbox
from tests.sandbox.conftest import dial_request, run_for


def client_with(sandbox: Sandbox, token: api.AccessToken) -> api.LiveKitAPI:
    return api.LiveKitAPI(sandbox.url, token=token.to_jwt())


@pytest.mark.parametrize("call", ["move", "forward"])
async def test_move_and_forward_need_the_destination_room_grant(
    livekit_sandbox: Sandbox, call: str
) -> None:
    identity = livekit_sandbox.place_caller("call-1")
    grants = api.VideoGrants(room_admin=True, room="call-1", destination_room="elsewhere")
    client = client_with(
        livekit_sandbox,
        api.AccessToken(livekit_sandbox.api_key, livekit_sandbox.api_secret).with_grants(grants),
    )
    if call == "move":
        attempt = client.room.move_participant(
            api.MoveParticipantRequest(room="call-1", identity=identity, destination_room="other")
        )
    else:
        attempt = client.room.forward_participant(
            api.ForwardParticipantRequest(
                room="call-1", identity=identity, destination_room="other"
            )
        )
    try:
        with pytest.raises(api.TwirpError) as caught:
            await attempt
        assert (caught.value.code, caught.value.status) == ("unauthenticated", 401)
    finally:
        await client.aclose()


async def test_trunk_api_needs_sip_admin(livekit_sandbox: Sandbox) -> None:
    token = api.AccessToken(livekit_sandbox.api_key, livekit_sandbox.api_secret).with_sip_grants(
        api.SIPGrants(call=True)
    )
    client = client_with(livekit_sandbox, token)
    try:
        with pytest.raises(api.TwirpError) as caught:
            await client.sip.list_outbound_trunk(api.ListSIPOutboundTrunkRequest())
        assert (caught.value.code, caught.value.status) == ("unauthenticated", 401)
    finally:
        await client.aclose()


async def test_forward_to_the_same_room(
    livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
) -> None:
    identity = livekit_sandbox.place_caller("call-1")
    with pytest.raises(api.TwirpError) as caught:
        await livekit_api.room.forward_participant(
            api.ForwardParticipantRequest(
                room="call-1", identity=identity, destination_room="call-1"
            )
        )
    assert caught.value.code == "invalid_argument"


async def test_send_data_refuses_a_bad_nonce(livekit_sandbox: Sandbox) -> None:
    """The Python client always sets a 16-byte nonce; another SDK could send a bad one."""
    livekit_sandbox.place_caller("call-1")
    from livekit.protocol import room as room_pb

    from tests.sandbox.test_transport import post, token

    body = room_pb.SendDataRequest(room="call-1", data=b"x", nonce=b"123").SerializeToString()
    auth = f"Bearer {token(livekit_sandbox, room_admin=True, room='call-1')}"
    status, _, text = await post(
        livekit_sandbox, "/twirp/livekit.RoomService/SendData", body, "application/protobuf", auth
    )
    assert (status, '"code": "invalid_argument"' in text) == (400, True)


async def test_metadata_of_a_missing_room(livekit_api: api.LiveKitAPI) -> None:
    with pytest.raises(api.TwirpError) as caught:
        await livekit_api.room.update_room_metadata(
            api.UpdateRoomMetadataRequest(room="nope", metadata="x")
        )
    assert caught.value.code == "not_found"


async def test_dispatch_creates_its_room(
    livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
) -> None:
    await livekit_api.agent_dispatch.create_dispatch(
        api.CreateAgentDispatchRequest(agent_name="a", room="fresh")
    )
    assert livekit_sandbox.room("fresh") is not None


@pytest.mark.livekit_sandbox(manual_clock=True)
async def test_inline_trunk_and_sip_attributes(
    livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
) -> None:
    request = dial_request(
        sip_trunk_id="",
        sip_number="+18005550100",
        trunk=api.SIPOutboundConfig(hostname="sip.carrier.example"),
    )
    info = await run_for(livekit_sandbox, 2, livekit_api.sip.create_sip_participant(request))
    member = livekit_sandbox.world.member("consult", "sup-1")
    assert member is not None
    assert member.info.attributes["sip.hostname"] == "sip.carrier.example"
    assert member.info.attributes["sip.callID"] == info.sip_call_id
    assert member.info.attributes["sip.trunkID"] == ""


@pytest.mark.livekit_sandbox(manual_clock=True)
async def test_without_waiting_the_call_goes_on_to_answer(
    livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
) -> None:
    await livekit_api.sip.create_sip_participant(dial_request(wait_until_answered=False))
    await livekit_sandbox.manual_clock.advance(1)
    member = livekit_sandbox.world.member("consult", "sup-1")
    assert member is not None
    assert member.info.attributes["sip.callStatus"] == "active"


SCENARIO_FILE = Path(__file__).with_name("busy_scenario.yaml")


@pytest.mark.livekit_sandbox(scenario=SCENARIO_FILE)
async def test_marker_takes_a_scenario_file(
    livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
) -> None:
    with pytest.raises(api.SipCallError) as caught:
        await livekit_api.sip.create_sip_participant(dial_request())
    assert caught.value.sip_status_code == 486
