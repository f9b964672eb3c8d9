"""Agent dispatches and the room list: what the watchdog asks of LiveKit beyond participants.

`AgentDispatchService.CreateDispatch` / `ListDispatch` and `RoomService.ListRooms`, each call
logged through the `Gateway` like every other (`livekit.request`). The grants are the ones
livekit-api asks for: `roomAdmin` on the room for dispatches, `roomList` for the room list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from livekit import api

from orchestrator.livekit.gateway import Gateway

__all__ = ["Dispatch", "create_dispatch", "list_dispatches", "list_rooms"]


@dataclass(frozen=True, slots=True)
class Dispatch:
    """One dispatch of an agent to a room, and the agents its jobs put there."""

    id: str
    agent_name: str
    metadata: str
    identities: tuple[str, ...]
    """The participant identities of its jobs (as far as the server reports them)."""


async def list_rooms(gateway: Gateway, log: Any) -> list[str]:
    """The names of the rooms open now."""
    answer = await gateway.call(
        log,
        "RoomService.ListRooms",
        lambda: gateway.client.room.list_rooms(api.ListRoomsRequest()),
    )
    return [room.name for room in answer.rooms]


async def list_dispatches(gateway: Gateway, log: Any, room: str) -> list[Dispatch]:
    found = await gateway.call(
        log,
        "AgentDispatchService.ListDispatch",
        lambda: gateway.client.agent_dispatch.list_dispatch(room),
    )
    return [
        Dispatch(
            id=d.id,
            agent_name=d.agent_name,
            metadata=d.metadata,
            identities=tuple(j.state.participant_identity for j in d.state.jobs),
        )
        for d in found
    ]


async def create_dispatch(
    gateway: Gateway, log: Any, room: str, agent_name: str, metadata: str
) -> str:
    """Dispatch `agent_name` to `room`; returns the dispatch id."""
    request = api.CreateAgentDispatchRequest(agent_name=agent_name, room=room, metadata=metadata)
    created = await gateway.call(
        log,
        "AgentDispatchService.CreateDispatch",
        lambda: gateway.client.agent_dispatch.create_dispatch(request),
    )
    return created.id
