"""`livekit.AgentDispatchService`: explicit agent dispatches, stored per room."""

from __future__ import annotations

import time

from livekit.protocol import agent_dispatch as pb, room as room_pb

from orchestrator.sandbox.auth import Grants
from orchestrator.sandbox.core import Core, handler
from orchestrator.sandbox.state import new_id
from orchestrator.sandbox.twirp import TwirpError

__all__: list[str] = []


@handler("AgentDispatchService", "CreateDispatch")
async def create_dispatch(
    core: Core, grants: Grants, req: pb.CreateAgentDispatchRequest
) -> pb.AgentDispatch:
    grants.room_admin(req.room)
    state = core.world.rooms.get(req.room) or core.world.create_room(
        room_pb.CreateRoomRequest(name=req.room)
    )
    dispatch = pb.AgentDispatch(
        id=new_id("AD_"),
        agent_name=req.agent_name,
        room=req.room,
        metadata=req.metadata,
        state=pb.AgentDispatchState(created_at=time.time_ns()),
    )
    state.dispatches[dispatch.id] = dispatch
    return dispatch


@handler("AgentDispatchService", "ListDispatch")
async def list_dispatch(
    core: Core, grants: Grants, req: pb.ListAgentDispatchRequest
) -> pb.ListAgentDispatchResponse:
    grants.room_admin(req.room)
    state = core.world.rooms.get(req.room)
    found = list(state.dispatches.values()) if state else []
    if req.dispatch_id:
        found = [d for d in found if d.id == req.dispatch_id]
    return pb.ListAgentDispatchResponse(agent_dispatches=found)


@handler("AgentDispatchService", "DeleteDispatch")
async def delete_dispatch(
    core: Core, grants: Grants, req: pb.DeleteAgentDispatchRequest
) -> pb.AgentDispatch:
    grants.room_admin(req.room)
    state = core.world.rooms.get(req.room)
    dispatch = state.dispatches.pop(req.dispatch_id, None) if state else None
    if dispatch is None:
        raise TwirpError("not_found", "dispatch not found")
    result: pb.AgentDispatch = dispatch
    return result
