"""`livekit.RoomService`: rooms, participants, moves, data, with the server's semantics.

Notable behaviours kept from the real server: CreateRoom is idempotent; ListParticipants of an
unknown room is an empty list; UpdateParticipant merges attributes (an empty value deletes the
key) and a `permission` replaces the whole permission (without `can_subscribe`, the
subscriptions a participant wants wait, and are made when it is given back); unmuting a track
is refused; SendData needs a 0- or 16-byte nonce; MoveParticipant and ForwardParticipant exist
only on flavor `cloud`. Calls the server routes to the node of a participant (UpdateSubscriptions,
MutePublishedTrack, and on the open-source server MoveParticipant and ForwardParticipant)
wait about 3 s and answer `unavailable` when nobody by that identity is there: no node claims
them. On the open-source server a move of someone who is there answers "not implemented".
"""

from __future__ import annotations

from livekit.protocol import models, room as pb

from orchestrator.sandbox.auth import Grants
from orchestrator.sandbox.core import Core, handler
from orchestrator.sandbox.state import Member
from orchestrator.sandbox.twirp import PSRPC_PREFIX, TwirpError

__all__: list[str] = []


UNCLAIMED_S = 3.0
"""How long the server's participant RPCs try (with retries) before giving up."""


def _unrouted() -> TwirpError:
    """What calls routed to a room's media server get when no server has that room."""
    return TwirpError("unavailable", PSRPC_PREFIX + "no response from servers")


async def _routed(core: Core, room: str, identity: str) -> Member:
    """The participant a call routed to its node names; unclaimed (3 s, `unavailable`) when
    nobody by that identity is in the room."""
    member = core.world.member(room, identity)
    if member is None:
        with core.parked():
            await core.clock.sleep(UNCLAIMED_S)
        raise _unrouted()
    return member


def _no_room() -> TwirpError:
    return TwirpError("not_found", PSRPC_PREFIX + "requested room does not exist")


def _member(core: Core, room: str, identity: str) -> Member:
    member = core.world.member(room, identity)
    if member is None:
        raise TwirpError("not_found", PSRPC_PREFIX + "participant does not exist")
    return member


def _copy(info: models.ParticipantInfo) -> models.ParticipantInfo:
    out = models.ParticipantInfo()
    out.CopyFrom(info)
    return out


@handler("RoomService", "CreateRoom")
async def create_room(core: Core, grants: Grants, req: pb.CreateRoomRequest) -> models.Room:
    grants.room_create()
    if not req.name:
        raise TwirpError("invalid_argument", "missing room name")
    return core.world.create_room(req).info


@handler("RoomService", "ListRooms")
async def list_rooms(core: Core, grants: Grants, req: pb.ListRoomsRequest) -> pb.ListRoomsResponse:
    grants.room_list()
    wanted = set(req.names)
    rooms = [s.info for name, s in core.world.rooms.items() if not wanted or name in wanted]
    return pb.ListRoomsResponse(rooms=rooms)


@handler("RoomService", "DeleteRoom")
async def delete_room(
    core: Core, grants: Grants, req: pb.DeleteRoomRequest
) -> pb.DeleteRoomResponse:
    grants.room_create()
    if req.room not in core.world.rooms:
        raise _no_room()
    core.world.delete_room(req.room)
    return pb.DeleteRoomResponse()


@handler("RoomService", "UpdateRoomMetadata")
async def update_room_metadata(
    core: Core, grants: Grants, req: pb.UpdateRoomMetadataRequest
) -> models.Room:
    grants.room_admin(req.room)
    state = core.world.rooms.get(req.room)
    if state is None:
        raise _no_room()
    state.info.metadata = req.metadata
    return state.info


@handler("RoomService", "ListParticipants")
async def list_participants(
    core: Core, grants: Grants, req: pb.ListParticipantsRequest
) -> pb.ListParticipantsResponse:
    grants.room_admin(req.room)
    state = core.world.rooms.get(req.room)
    members = state.members.values() if state else []
    return pb.ListParticipantsResponse(participants=[m.info for m in members])


@handler("RoomService", "GetParticipant")
async def get_participant(
    core: Core, grants: Grants, req: pb.RoomParticipantIdentity
) -> models.ParticipantInfo:
    grants.room_admin(req.room)
    return _member(core, req.room, req.identity).info


@handler("RoomService", "RemoveParticipant")
async def remove_participant(
    core: Core, grants: Grants, req: pb.RoomParticipantIdentity
) -> pb.RemoveParticipantResponse:
    grants.room_admin(req.room)
    _member(core, req.room, req.identity)
    core.world.leave(req.room, req.identity, models.DisconnectReason.PARTICIPANT_REMOVED)
    return pb.RemoveParticipantResponse()


@handler("RoomService", "UpdateParticipant")
async def update_participant(
    core: Core, grants: Grants, req: pb.UpdateParticipantRequest
) -> models.ParticipantInfo:
    grants.room_admin(req.room)
    info = _member(core, req.room, req.identity).info
    if req.name:
        info.name = req.name
    if req.metadata:
        info.metadata = req.metadata
    if req.HasField("permission"):
        could = info.permission.can_subscribe
        info.permission.CopyFrom(req.permission)  # replaces every flag, as the server does
        if not req.permission.can_publish:
            del info.tracks[:]  # revoking publish unpublishes the tracks
        if could != req.permission.can_subscribe:  # what it hears changes
            core.world.emit("subscriptions_changed", req.room, participant=info)
    if req.attributes:
        core.world.set_attributes(req.room, req.identity, dict(req.attributes))
    return _copy(info)


@handler("RoomService", "MutePublishedTrack")
async def mute_published_track(
    core: Core, grants: Grants, req: pb.MuteRoomTrackRequest
) -> pb.MuteRoomTrackResponse:
    grants.room_admin(req.room)
    info = (await _routed(core, req.room, req.identity)).info
    if not req.muted:
        raise TwirpError("failed_precondition", "remote unmute not enabled")
    for track in info.tracks:
        if track.sid == req.track_sid:
            track.muted = True
            return pb.MuteRoomTrackResponse(track=track)
    return pb.MuteRoomTrackResponse()


@handler("RoomService", "UpdateSubscriptions")
async def update_subscriptions(
    core: Core, grants: Grants, req: pb.UpdateSubscriptionsRequest
) -> pb.UpdateSubscriptionsResponse:
    grants.room_admin(req.room)
    member = await _routed(core, req.room, req.identity)
    sids = set(req.track_sids) | {s for pt in req.participant_tracks for s in pt.track_sids}
    if req.subscribe:
        if "*" in member.unsubscribed:  # nothing subscribed yet: all but these stay off
            state = core.world.rooms[req.room]
            member.unsubscribed = {t.sid for m in state.members.values() for t in m.info.tracks}
        member.unsubscribed -= sids
    else:
        member.unsubscribed |= sids
    core.world.emit("subscriptions_changed", req.room, participant=member.info)
    return pb.UpdateSubscriptionsResponse()


@handler("RoomService", "SendData")
async def send_data(core: Core, grants: Grants, req: pb.SendDataRequest) -> pb.SendDataResponse:
    grants.room_admin(req.room)
    if len(req.nonce) not in (0, 16):
        raise TwirpError("invalid_argument", "nonce must be 16 bytes")
    if req.room not in core.world.rooms:
        raise _unrouted()
    core.world.emit("data_received", req.room, data=req.data)
    return pb.SendDataResponse()


async def _cloud_only(
    core: Core, req: pb.MoveParticipantRequest | pb.ForwardParticipantRequest
) -> Member:
    if req.room == req.destination_room:
        text = "destination room cannot be the same as source room"
        raise TwirpError("invalid_argument", text + " ", {"argument": text})
    if core.flavor != "cloud":  # the open-source node's answer, if one claims the call
        await _routed(core, req.room, req.identity)
        raise TwirpError("unknown", PSRPC_PREFIX + "not implemented")
    return _member(core, req.room, req.identity)


@handler("RoomService", "MoveParticipant")
async def move_participant(
    core: Core, grants: Grants, req: pb.MoveParticipantRequest
) -> pb.MoveParticipantResponse:
    grants.destination_room(req.room, req.destination_room)
    member = await _cloud_only(core, req)
    task, member.task = member.task, None  # the SIP leg lives on in the destination room
    unsubscribed = set(member.unsubscribed)
    core.legs.moved(req.room, req.destination_room, req.identity)
    info = _copy(core.world.leave(req.room, req.identity, models.DisconnectReason.MIGRATION))
    info.disconnect_reason = models.DisconnectReason.UNKNOWN_REASON
    moved = core.world.join(req.destination_room, info)
    moved.task, moved.unsubscribed = task, unsubscribed
    return pb.MoveParticipantResponse()


@handler("RoomService", "ForwardParticipant")
async def forward_participant(
    core: Core, grants: Grants, req: pb.ForwardParticipantRequest
) -> pb.ForwardParticipantResponse:
    grants.destination_room(req.room, req.destination_room)
    info = _copy((await _cloud_only(core, req)).info)
    info.sid = ""
    info.kind_details.append(models.ParticipantInfo.KindDetail.FORWARDED)
    core.world.join(req.destination_room, info)
    core.world.forwards.setdefault((req.room, req.identity), set()).add(req.destination_room)
    return pb.ForwardParticipantResponse()
