"""RoomService through the real client: rooms, participants, moves, data."""

from __future__ import annotations

import pytest
from livekit import api
from livekit.protocol import models

from orchestrator.sandbox import Sandbox
from tests.sandbox.conftest import dial_request, record_events, run_for

MANUAL = pytest.mark.livekit_sandbox(manual_clock=True)


class TestRooms:
    async def test_create_is_idempotent(self, livekit_api: api.LiveKitAPI) -> None:
        first = await livekit_api.room.create_room(
            api.CreateRoomRequest(name="a", empty_timeout=30)
        )
        again = await livekit_api.room.create_room(api.CreateRoomRequest(name="a"))
        assert again.sid == first.sid
        assert again.empty_timeout == 30

    async def test_list_and_filter(self, livekit_api: api.LiveKitAPI) -> None:
        for name in ("a", "b"):
            await livekit_api.room.create_room(api.CreateRoomRequest(name=name))
        everything = await livekit_api.room.list_rooms(api.ListRoomsRequest())
        only_b = await livekit_api.room.list_rooms(api.ListRoomsRequest(names=["b"]))
        assert sorted(r.name for r in everything.rooms) == ["a", "b"]
        assert [r.name for r in only_b.rooms] == ["b"]

    async def test_delete_missing_room(self, livekit_api: api.LiveKitAPI) -> None:
        with pytest.raises(api.TwirpError) as caught:
            await livekit_api.room.delete_room(api.DeleteRoomRequest(room="nope"))
        assert (caught.value.code, caught.value.status) == ("not_found", 404)
        assert caught.value.message == "twirp error unknown: requested room does not exist"

    async def test_metadata(self, livekit_api: api.LiveKitAPI) -> None:
        await livekit_api.room.create_room(api.CreateRoomRequest(name="m"))
        room = await livekit_api.room.update_room_metadata(
            api.UpdateRoomMetadataRequest(room="m", metadata='{"transfer":"held"}')
        )
        assert room.metadata == '{"transfer":"held"}'

    @MANUAL
    async def test_empty_room_closes_after_empty_timeout(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        events = record_events(livekit_sandbox)
        await livekit_api.room.create_room(api.CreateRoomRequest(name="e", empty_timeout=60))
        await livekit_sandbox.manual_clock.advance(59)
        assert livekit_sandbox.room("e") is not None
        await livekit_sandbox.manual_clock.advance(1)
        assert livekit_sandbox.room("e") is None
        assert [e.kind for e in events] == ["room_started", "room_finished"]

    @MANUAL
    async def test_room_closes_after_departure_timeout(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        await livekit_api.room.create_room(api.CreateRoomRequest(name="d", departure_timeout=5))
        caller = livekit_sandbox.place_caller("d")
        livekit_sandbox.hang_up("d", caller)
        await livekit_sandbox.manual_clock.advance(4.9)
        assert livekit_sandbox.room("d") is not None
        await livekit_sandbox.manual_clock.advance(0.1)
        assert livekit_sandbox.room("d") is None


class TestParticipants:
    async def test_unknown_room_lists_nobody(self, livekit_api: api.LiveKitAPI) -> None:
        listed = await livekit_api.room.list_participants(api.ListParticipantsRequest(room="x"))
        assert list(listed.participants) == []

    async def test_get_missing_participant(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        livekit_sandbox.place_caller("call-1")
        with pytest.raises(api.TwirpError) as caught:
            await livekit_api.room.get_participant(
                api.RoomParticipantIdentity(room="call-1", identity="who")
            )
        assert caught.value.code == "not_found"

    async def test_inbound_caller_is_a_sip_participant(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        identity = livekit_sandbox.place_caller("call-1")
        caller = await livekit_api.room.get_participant(
            api.RoomParticipantIdentity(room="call-1", identity=identity)
        )
        assert caller.kind == models.ParticipantInfo.Kind.SIP
        assert caller.attributes["sip.phoneNumber"] == "+14155552671"
        assert caller.attributes["sip.callStatus"] == "active"
        assert caller.attributes["sip.callID"].startswith("SCL_")
        assert len(caller.tracks) == 1

    async def test_update_merges_and_deletes_attributes(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        identity = livekit_sandbox.place_caller("call-1")
        events = record_events(livekit_sandbox)
        update = api.UpdateParticipantRequest(
            room="call-1", identity=identity, attributes={"transfer.state": "held"}
        )
        updated = await livekit_api.room.update_participant(update)
        assert updated.attributes["transfer.state"] == "held"
        assert updated.attributes["sip.phoneNumber"] == "+14155552671"
        cleared = await livekit_api.room.update_participant(
            api.UpdateParticipantRequest(
                room="call-1", identity=identity, attributes={"transfer.state": ""}
            )
        )
        assert "transfer.state" not in cleared.attributes
        assert [e.kind for e in events] == ["participant_attributes_changed"] * 2

    async def test_permission_replaces_the_whole_permission(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        identity = livekit_sandbox.place_caller("call-1")
        updated = await livekit_api.room.update_participant(
            api.UpdateParticipantRequest(
                room="call-1",
                identity=identity,
                permission=models.ParticipantPermission(can_subscribe=False),
            )
        )
        assert not updated.permission.can_publish
        assert not updated.permission.can_publish_data
        assert list(updated.tracks) == []  # revoking publish unpublished the caller's audio

    async def test_remove(self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI) -> None:
        identity = livekit_sandbox.place_caller("call-1")
        events = record_events(livekit_sandbox)
        await livekit_api.room.remove_participant(
            api.RoomParticipantIdentity(room="call-1", identity=identity)
        )
        unpublished, left = events
        assert (unpublished.kind, left.kind) == ("track_unpublished", "participant_left")
        assert left.participant is not None
        assert left.participant.disconnect_reason == models.DisconnectReason.PARTICIPANT_REMOVED

    @pytest.mark.livekit_sandbox(scenario={"speed": 100})  # "gone": 3 s, compressed
    async def test_mute_and_refused_unmute(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        identity = livekit_sandbox.place_caller("call-1")
        caller = await livekit_api.room.get_participant(
            api.RoomParticipantIdentity(room="call-1", identity=identity)
        )
        track = caller.tracks[0].sid
        muted = await livekit_api.room.mute_published_track(
            api.MuteRoomTrackRequest(room="call-1", identity=identity, track_sid=track, muted=True)
        )
        assert muted.track.muted
        with pytest.raises(api.TwirpError) as caught:
            await livekit_api.room.mute_published_track(
                api.MuteRoomTrackRequest(
                    room="call-1", identity=identity, track_sid=track, muted=False
                )
            )
        assert caught.value.code == "failed_precondition"
        unknown = await livekit_api.room.mute_published_track(
            api.MuteRoomTrackRequest(
                room="call-1", identity=identity, track_sid="TR_nope", muted=True
            )
        )
        assert not unknown.HasField("track")
        with pytest.raises(api.TwirpError) as caught:
            await livekit_api.room.mute_published_track(
                api.MuteRoomTrackRequest(
                    room="gone", identity=identity, track_sid=track, muted=True
                )
            )
        assert (caught.value.code, caught.value.status) == ("unavailable", 503)

    async def test_update_subscriptions(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        identity = livekit_sandbox.place_caller("call-1")
        request = api.UpdateSubscriptionsRequest(
            room="call-1", identity=identity, track_sids=["TR_a"], subscribe=False
        )
        await livekit_api.room.update_subscriptions(request)
        member = livekit_sandbox.world.member("call-1", identity)
        assert member is not None
        assert member.unsubscribed == {"TR_a"}
        request.subscribe = True
        await livekit_api.room.update_subscriptions(request)
        assert member.unsubscribed == set()

    async def test_send_data(self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI) -> None:
        livekit_sandbox.place_caller("call-1")
        events = record_events(livekit_sandbox)
        await livekit_api.room.send_data(api.SendDataRequest(room="call-1", data=b"hello"))
        assert [(e.kind, e.data) for e in events] == [("data_received", b"hello")]
        with pytest.raises(api.TwirpError) as caught:
            await livekit_api.room.send_data(api.SendDataRequest(room="nowhere", data=b"x"))
        assert (caught.value.code, caught.value.status) == ("unavailable", 503)


class TestMove:
    @MANUAL
    async def test_move_supervisor_into_the_caller_room(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        livekit_sandbox.place_caller("call-1")
        await run_for(livekit_sandbox, 2, livekit_api.sip.create_sip_participant(dial_request()))
        events = record_events(livekit_sandbox)
        await livekit_api.room.move_participant(
            api.MoveParticipantRequest(room="consult", identity="sup-1", destination_room="call-1")
        )
        assert [e.kind for e in events] == [
            "track_unpublished",
            "participant_left",
            "participant_joined",
        ]
        moved = await livekit_api.room.get_participant(
            api.RoomParticipantIdentity(room="call-1", identity="sup-1")
        )
        assert moved.attributes["sip.callStatus"] == "active"
        assert livekit_sandbox.legs.get("call-1", "sup-1") is not None

    async def test_same_room(self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI) -> None:
        livekit_sandbox.place_caller("call-1")
        with pytest.raises(api.TwirpError) as caught:
            await livekit_api.room.move_participant(
                api.MoveParticipantRequest(room="call-1", identity="x", destination_room="call-1")
            )
        assert caught.value.code == "invalid_argument"
        assert caught.value.message == "destination room cannot be the same as source room "
        assert caught.value.metadata == {
            "argument": "destination room cannot be the same as source room"
        }

    @pytest.mark.livekit_sandbox(flavor="oss")
    async def test_open_source_flavor_has_no_move(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        identity = livekit_sandbox.place_caller("call-1")
        for call in (livekit_api.room.move_participant, livekit_api.room.forward_participant):
            request = (
                api.MoveParticipantRequest
                if call == livekit_api.room.move_participant
                else api.ForwardParticipantRequest
            )
            with pytest.raises(api.TwirpError) as caught:
                await call(request(room="call-1", identity=identity, destination_room="other"))  # type: ignore[operator]
            assert (caught.value.code, caught.value.message) == (
                "unknown",
                "twirp error unknown: not implemented",
            )

    async def test_forward_mirrors_the_participant(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        identity = livekit_sandbox.place_caller("call-1")
        await livekit_api.room.forward_participant(
            api.ForwardParticipantRequest(
                room="call-1", identity=identity, destination_room="mirror"
            )
        )
        assert livekit_sandbox.world.member("call-1", identity) is not None
        mirror = livekit_sandbox.world.member("mirror", identity)
        assert mirror is not None
        assert models.ParticipantInfo.KindDetail.FORWARDED in mirror.info.kind_details
        livekit_sandbox.hang_up("call-1", identity)
        assert livekit_sandbox.world.member("mirror", identity) is None  # forwarding stopped

    @MANUAL
    async def test_delete_room_hangs_up_sip_legs(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        await run_for(livekit_sandbox, 2, livekit_api.sip.create_sip_participant(dial_request()))
        events = record_events(livekit_sandbox)
        await livekit_api.room.delete_room(api.DeleteRoomRequest(room="consult"))
        _, left, finished = events
        assert left.participant is not None
        assert left.participant.disconnect_reason == models.DisconnectReason.ROOM_DELETED
        assert finished.kind == "room_finished"
        assert livekit_sandbox.legs.get("consult", "sup-1") is None
