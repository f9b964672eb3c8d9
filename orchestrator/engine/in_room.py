"""The `in_room` merge strategy, for servers without MoveParticipant (self-hosted LiveKit).

The supervisor is dialled straight into the caller's room. LiveKit's SIP bridge joins the room
as `dialing`, publishes its audio track while the phone rings (after the join: seen on the
real server), and subscribes to the room's tracks only once the call is connected (it joins
with auto-subscribe off). The caller's own bridge subscribes to every audio track published
after it connected, the supervisor's too. So:

* when the supervisor's track is published (and at the join, if it is there already), the
  people in the room are unsubscribed from it: nothing the supervisor's phone sends (a dial
  tone, their first words) reaches the caller;
* while the leg rings, its permission to subscribe is withheld (`withhold`): the
  subscriptions its bridge asks for at the answer are kept by the server as wanted, not made;
* at the answer, both again: the people from the supervisor's tracks (in case the caller's
  bridge subscribed after the first cut: the last subscription change wins), and the
  supervisor from every track in the room (the caller's voice, the hold audio), which its
  bridge has just asked for; then the permission is given back, with nothing left wanted.

Without the withholding, the bridge's subscriptions were made (one WebRTC negotiation with
the leg) and the cut undid them (a second) within a few hundred milliseconds, and for that
time the supervisor heard the caller's side. Seen on livekit-server 1.13.5 with debug logs:
two offers to the leg at the answer without it, none with it; once in about 140 answered
legs the server closed a leg with `NEGOTIATE_FAILED` just after that pair (docs/real-stack.md).
If the phone answers before the permission is withheld, the cut works as before.

The brief is spoken on a track the agent lets only the supervisor hear. Accepting opens both
paths (and gives the permission back, if the answer could not); anything else removes the
supervisor's leg from the room.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from orchestrator.engine.legs import Calls
from orchestrator.errors import LiveKitError
from orchestrator.livekit import Participant
from orchestrator.livekit.names import TRANSFER_ID, is_supervisor_leg

__all__ = ["InRoom", "Withholding", "cut_off", "isolate", "open_paths", "our_legs", "withhold"]


@dataclass
class Withholding:
    """A ringing leg's permission to subscribe, withheld until its answer's cut."""

    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    """One per join of the leg while it rang (a reconnect joins again)."""
    answered: bool = False
    """The answer's cut has begun: a withholding not sent by then is not sent at all."""
    sent: bool = False
    """A withholding was sent: the answer waits for it to land, then gives it back."""


class InRoom(Calls, Protocol):
    """What changing who hears whom needs: the caller's room, and LiveKit's calls."""

    @property
    def room(self) -> str: ...

    withholding: dict[str, Withholding]
    """The legs of ours that joined ringing, by identity."""


def withhold(t: InRoom, leg: str) -> None:
    """`leg` of ours joined (or joined again): while it rings it may subscribe to nothing,
    in the background, unless its answer's cut has begun."""
    withholding = t.withholding.setdefault(leg, Withholding())
    if not withholding.answered:
        withholding.tasks.append(asyncio.ensure_future(_withhold(t, leg, withholding)))


async def _withhold(t: InRoom, leg: str, withholding: Withholding) -> None:
    """A failure is logged (the answer's cut still keeps the leg apart, as it did before the
    withholding)."""

    def sending() -> bool:  # asked just before the UpdateParticipant: not after the answer
        withholding.sent = withholding.sent or not withholding.answered
        return not withholding.answered

    try:
        await t.gateway.set_can_subscribe(t.log, t.room, leg, False, ringing=True, proceed=sending)
    except Exception as error:
        t.log.warning("transfer.isolate_failed", error=type(error).__name__)


async def isolate(t: InRoom, supervisor: str) -> None:
    """At the answer: `supervisor` and the people in the caller's room stop hearing each
    other; a withheld leg may subscribe again (to the brief), with nothing of the room
    wanted."""
    withholding = t.withholding.get(supervisor)
    if withholding is not None:
        withholding.answered = True
    await _paths(t, supervisor, subscribe=False, people=True, them=True)
    if withholding is not None and withholding.sent:
        await asyncio.wait(withholding.tasks)  # given back once landed, never before
        withholding.sent = not await _give_back(t, supervisor)


async def _give_back(t: InRoom, leg: str) -> bool:
    """`leg` may subscribe again (False, logged, if LiveKit would not say so: the merge gives
    it back then)."""
    failure = "not_found"
    for _ in range(2):  # a `not_found` can be wrong (engine/legs.py): asked twice
        try:
            if await t.gateway.set_can_subscribe(t.log, t.room, leg, True) is not None:
                return True
        except (LiveKitError, TimeoutError) as error:
            failure = type(error).__name__
    t.log.warning("transfer.isolate_failed", error=failure)
    return False


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
    leg = await _paths(t, supervisor, subscribe=True, people=True, them=True)
    if leg is None:
        return False
    if not leg.can_subscribe:  # still withheld: the answer could not give it back
        await t.gateway.set_can_subscribe(t.log, t.room, supervisor, True)
    return True


async def _paths(
    t: InRoom,
    supervisor: str,
    *,
    subscribe: bool,
    people: bool,
    them: bool,
    track: str | None = None,
) -> Participant | None:
    """The supervisor's leg as listed (None: not in the room)."""
    everyone = await t.gateway.list_participants(t.log, t.room)
    leg = next((p for p in everyone if p.identity == supervisor), None)
    theirs = list(leg.tracks) if leg is not None else []
    if track is not None and track not in theirs:  # the listing may lag the publication
        theirs.append(track)
    others = [p for p in everyone if p.identity != supervisor]
    if leg is None and (subscribe or not theirs):
        return None  # gone already: nothing to keep apart, nobody to let in
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
    return leg


def our_legs(participants: list[Participant], transfer_id: str) -> list[str]:
    """Identities of the supervisor legs a transfer dialled, found by their attributes."""
    return [
        p.identity
        for p in participants
        if p.attributes.get(TRANSFER_ID) == transfer_id and is_supervisor_leg(p.attributes)
    ]
