"""Who has really left: a departure is believed only once it lasts and the server agrees.

LiveKit can close a participant and let its SDK join again under the same identity a moment
later: a full reconnect. On the real server this happens to a SIP bridge's participant whose
WebRTC negotiation failed (`NEGOTIATE_FAILED`, for example when a subscription change and the
bridge's own collide at the answer); the room then sees the caller or the supervisor leave
and join again about 15 ms later, with a new track, none of the attributes the API wrote, and
the bridge subscribed to every track in the room again. The phone call never stopped. So:

* a departure waits `DEPARTURE_GRACE_S` (transfer clock), then counts only if the participant
  has not joined again and neither GetParticipant nor ListParticipants lists it; but one
  whose phone call the SIP bridge marked ended (`sip.callStatus: hangup`) counts at once;
* a return within the grace cancels the departure, and the transfer puts back what the
  reconnect undid: the `in_room` cut-offs, and the checkpoint on the caller.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from orchestrator.engine.checkpoint import Checkpointing, holder, restore
from orchestrator.engine.legs import absent
from orchestrator.engine.merge import MergeState
from orchestrator.errors import LiveKitError
from orchestrator.livekit import Participant
from orchestrator.livekit.names import STATE

__all__ = ["DEPARTURE_GRACE_S", "REJOIN_WINDOW_S", "Present", "departed", "rejoined", "returned"]


class Present(Checkpointing, Protocol):
    """What telling a departure from a reconnect needs from its transfer."""

    supervisor: str | None
    merge: MergeState
    gone: set[str]
    departures: dict[tuple[str, str], asyncio.Future[None]]
    late_departures: list[tuple[str, str, bool]]
    isolating: set[asyncio.Task[None]]

    @property
    def leg_room(self) -> str: ...

    def post(self, event: str, visit: int | None = None) -> None: ...

    def cut_off(
        self,
        room: str,
        identity: str,
        track: str | None,
        *,
        both: bool = False,
        heard: str | None = None,
    ) -> None: ...


DEPARTURE_GRACE_S = 1.0
REJOIN_WINDOW_S = DEPARTURE_GRACE_S + 3.0
"""How long after a caller's reconnect a running transfer's repair (the checkpoint written
again, sent once it sees the caller join again within `DEPARTURE_GRACE_S`) is taken to have
landed: when LiveKit answers it, retries included, within 3 s. A start in another worker
waits it out before trusting "no claim"."""


def rejoined(caller: Participant, everyone: list[Participant], now: float) -> float:
    """How long a start must wait before trusting that `caller` carries no claim: until
    `REJOIN_WINDOW_S` after the caller joined, if that was a reconnect (they joined after
    someone else in the room: a fresh inbound call's caller is its first participant) less
    than that ago; else 0. `now`: epoch seconds (`clock.wall_time`); `joined_at` is the
    server's clock, to the millisecond where the server says (else the second)."""
    joined = caller.joined_at
    if not joined or not any(0 < p.joined_at < joined for p in everyone):
        return 0.0
    # Capped: a server clock ahead of this one must not hold a start longer.
    return min(REJOIN_WINDOW_S, max(0.0, joined + REJOIN_WINDOW_S - now))


def departed(t: Present, room: str, identity: str, event: str, *, hung_up: bool) -> None:
    """Room events say `identity` left `room`: post `event` once that is confirmed, or at once
    when LiveKit's SIP bridge marked the call ended (`hung_up`: a hang-up is no reconnect)."""
    key = (room, identity)
    if t.ending:  # too late for the transfer; a merged call's watch hears of it
        t.late_departures.append((room, identity, hung_up))
        return
    if hung_up:
        pending = t.departures.pop(key, None)
        if pending is not None:
            pending.cancel()
        _departed(t, room, identity, event)
        return
    if key in t.departures:  # reported twice
        return
    task = asyncio.ensure_future(_confirm(t, room, identity, event))
    t.departures[key] = task
    task.add_done_callback(lambda done: _forget(t, key, done))


def returned(t: Present, room: str, identity: str) -> bool:
    """`identity` joined `room`: True, and the reconnect repaired, if it was leaving."""
    pending = t.departures.pop((room, identity), None)
    if pending is None:
        return False
    pending.cancel()
    role = "caller" if identity == t.caller_identity else "supervisor"
    t.log.info("transfer.participant_rejoined", role=role)
    if role == "caller":
        if t.supervisor is not None:  # the caller's bridge subscribed to the leg again
            t.cut_off(room, t.supervisor, None)
        # The API's attributes (the claim, the checkpoint) did not survive the rejoin: the
        # latest state written again, in its turn after any write under way.
        write = asyncio.ensure_future(_repair(t))
        t.isolating.add(write)  # stopped with the cuts when cleanup begins
        write.add_done_callback(t.isolating.discard)
    else:  # the leg's bridge subscribed to everything again: both directions
        t.cut_off(room, identity, None, both=True)
    return True


async def _repair(t: Present) -> None:
    """The checkpoint written again after the caller's rejoin; then, once it is answered,
    read back: a worker in another process may have claimed the caller while it carried no
    claim. The running transfer wins over a claim that is still `requested` (its start has
    not read it at the hold yet, and will find this transfer's there and back off); one
    that got further is left to its own checks."""
    await restore(t)
    if t.ending:
        return
    try:
        seen = await t.gateway.get_participant(t.log, t.room, t.caller_identity)
    except LiveKitError:
        return  # the server cannot say: the start's own checks stand
    other = holder(seen)
    if seen is None or other in ("", t.transfer_id) or seen.attributes.get(STATE) != "requested":
        return
    t.log.info("transfer.claim_restored", other_transfer_id=other)
    await restore(t)


async def _confirm(t: Present, room: str, identity: str, event: str) -> None:
    await t.clock.sleep(DEPARTURE_GRACE_S)
    try:
        gone = await absent(t, room, identity)
    except Exception:  # the server cannot say otherwise: the event stands
        gone = True
    if gone:
        _departed(t, room, identity, event)


def _departed(t: Present, room: str, identity: str, event: str) -> None:
    if event == "supervisor_left":
        # A move shows as leaving the consult room; only the room they are in counts.
        if identity != t.supervisor or t.merge.moving or room != t.leg_room:
            return
        t.gone.add(identity)  # even if the brief has not started to hear it yet
    t.post(event)


def _forget(t: Present, key: tuple[str, str], done: asyncio.Future[None]) -> None:
    if t.departures.get(key) is done:
        del t.departures[key]
