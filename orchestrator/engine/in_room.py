"""The `in_room` merge strategy, for servers without MoveParticipant (self-hosted LiveKit).

The supervisor is dialled straight into the caller's room. LiveKit's SIP bridge joins the room
as `dialing`, publishes its audio track while the phone rings (after the join: seen on the
real server), and subscribes to the room's tracks only once the call is connected (it joins
with auto-subscribe off). The caller's own bridge subscribes to every audio track published
after it connected, the supervisor's too. So:

* when the supervisor's track is published (and at the join, if it is there already), the
  people in the room are unsubscribed from it: nothing the supervisor's phone sends (a dial
  tone, their first words) reaches the caller;
* at the answer, both again: the people from the supervisor's tracks (in case the caller's
  bridge subscribed after the first cut: the last subscription change wins), and the
  supervisor from every track in the room (the caller's voice, the hold audio), which the
  bridge has just subscribed to.

The brief is spoken on a track the agent lets only the supervisor hear. Accepting opens both
paths; anything else removes the supervisor's leg from the room.

What this cannot do that `move` does: for the time between the answer and the engine's
`UpdateSubscriptions` (one API round trip) the supervisor can hear the caller's side.
"""

from __future__ import annotations

from typing import Protocol

from orchestrator.engine.legs import Calls
from orchestrator.livekit import Participant
from orchestrator.livekit.names import TRANSFER_ID, is_supervisor_leg

__all__ = ["InRoom", "cut_off", "isolate", "open_paths", "our_legs"]


class InRoom(Calls, Protocol):
    """What changing who hears whom needs: the caller's room, and LiveKit's calls."""

    @property
    def room(self) -> str: ...


async def isolate(t: InRoom, supervisor: str) -> None:
    """At the answer: `supervisor` and the people in the caller's room stop hearing each
    other."""
    await _paths(t, supervisor, subscribe=False, people=True, them=True)


async def cut_off(
    t: InRoom,
    supervisor: str,
    track: str | None = None,
    *,
    both: bool = False,
    heard: str | None = None,
) -> None:
    """At the join, or when the leg publishes `track`: the people in the room stop hearing
    the leg (`both`: and the leg them, after a reconnect; `heard`: only the leg the track
    `heard`, a caller's after a reconnect); a failure is logged (the answer does it again)."""
    try:
        if heard is not None:
            await t.gateway.update_subscriptions(t.log, t.room, supervisor, [heard], False)
        else:
            await _paths(t, supervisor, subscribe=False, people=True, them=both, track=track)
    except Exception as error:
        t.log.warning("transfer.isolate_failed", error=type(error).__name__)


async def open_paths(t: InRoom, supervisor: str) -> bool:
    """The supervisor accepted: they and the caller hear each other (agents stay apart).
    False if the room's listing has no such leg (hung up: nothing was opened)."""
    return await _paths(t, supervisor, subscribe=True, people=True, them=True)


async def _paths(
    t: InRoom,
    supervisor: str,
    *,
    subscribe: bool,
    people: bool,
    them: bool,
    track: str | None = None,
) -> bool:
    everyone = await t.gateway.list_participants(t.log, t.room)
    theirs = [sid for p in everyone if p.identity == supervisor for sid in p.tracks]
    if track is not None and track not in theirs:  # the listing may lag the publication
        theirs.append(track)
    others = [p for p in everyone if p.identity != supervisor]
    if not any(p.identity == supervisor for p in everyone) and (subscribe or not theirs):
        return False  # gone already: nothing to keep apart, nobody to let in
    if people and theirs:
        for person in others:
            if person.kind != "agent":
                await t.gateway.update_subscriptions(
                    t.log, t.room, person.identity, theirs, subscribe
                )
    # Closing cuts the agent's tracks too (hold audio); opening gives back people only.
    heard = [sid for p in others if not subscribe or p.kind != "agent" for sid in p.tracks]
    if them and heard:
        await t.gateway.update_subscriptions(t.log, t.room, supervisor, heard, subscribe)
    return True


def our_legs(participants: list[Participant], transfer_id: str) -> list[str]:
    """Identities of the supervisor legs a transfer dialled, found by their attributes."""
    return [
        p.identity
        for p in participants
        if p.attributes.get(TRANSFER_ID) == transfer_id and is_supervisor_leg(p.attributes)
    ]
