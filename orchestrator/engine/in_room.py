"""The `in_room` merge strategy, for servers without MoveParticipant (self-hosted LiveKit).

The supervisor is dialled straight into the caller's room. LiveKit's SIP bridge joins the room
as `dialing` before it sends the INVITE, so the engine can cut the audio paths while nobody is
on the line yet: the supervisor is unsubscribed from every track already in the room (the
caller's voice, the hold audio), and once they answer, the caller is unsubscribed from the
supervisor's track. The brief is spoken on a track the agent lets only the supervisor hear.
Accepting opens the two paths; anything else removes the supervisor from the room.

What this cannot do that `move` does: the caller can hear the supervisor's first words for the
time between the answer and the engine's `UpdateSubscriptions` (one API round trip).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from livekit.protocol import models

if TYPE_CHECKING:
    from orchestrator.engine.transfer import Transfer

__all__ = ["isolate", "open_paths", "our_legs"]

_AGENT = models.ParticipantInfo.Kind.AGENT


async def isolate(t: Transfer, supervisor: str) -> None:
    """Keep `supervisor` and the people in the caller's room from hearing each other."""
    await _paths(t, supervisor, subscribe=False)


async def open_paths(t: Transfer, supervisor: str) -> None:
    """The supervisor accepted: they and the caller hear each other (agents stay apart)."""
    await _paths(t, supervisor, subscribe=True)


async def _paths(t: Transfer, supervisor: str, *, subscribe: bool) -> None:
    everyone = await t.gateway.list_participants(t.log, t.room)
    theirs = [track.sid for p in everyone if p.identity == supervisor for track in p.tracks]
    others = [p for p in everyone if p.identity != supervisor]
    # Closing cuts the agent's tracks too (hold audio); opening gives back people only.
    heard = [track.sid for p in others if not subscribe or p.kind != _AGENT for track in p.tracks]
    if heard and any(p.identity == supervisor for p in everyone):
        await t.gateway.update_subscriptions(t.log, t.room, supervisor, heard, subscribe)
    for person in others:
        if person.kind != _AGENT and theirs:
            await t.gateway.update_subscriptions(t.log, t.room, person.identity, theirs, subscribe)


def our_legs(participants: list[models.ParticipantInfo], transfer_id: str) -> list[str]:
    """Identities of the supervisor legs a transfer dialled, found by their attributes."""
    return [
        p.identity
        for p in participants
        if p.attributes.get("transfer.id") == transfer_id
        and p.attributes.get("transfer.role") == "supervisor"
    ]
