"""One reconciliation: what a transfer may have created on LiveKit, made to match what must
remain.

A transfer leaves three kinds of things behind, each found with nothing stored elsewhere
(`orchestrator.livekit.names`): the consult room, by its name (`consult-{id}`); supervisor
legs, by their `transfer.id` attribute; and the checkpoint on the caller, by its holder.
`reconcile` asks LiveKit what exists and makes it match: the merged supervisor kept, every
other leg of the transfer hung up, the consult room deleted, the checkpoint cleared. Each
piece is idempotent (done again, it finds nothing to do) and retried within one deadline
(`retry.persist`), so the pieces of one reconciliation never add up past it.

Recovery runs it whole; a transfer's cleanup (`engine.cleanup`, which serves the caller
hanging up and `max_hold` too, both ending the transfer) runs the same pieces in the
people's order, the caller first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.clock import Clock, within
from orchestrator.engine.in_room import our_legs
from orchestrator.engine.legs import Calls, absent, hang_up
from orchestrator.engine.retry import persist
from orchestrator.errors import LiveKitError
from orchestrator.livekit import Participant
from orchestrator.livekit.names import CHECKPOINT_KEYS, consult_room

__all__ = [
    "BUDGET_S",
    "Created",
    "clear_checkpoint",
    "delete_room",
    "hang_up_all",
    "hang_up_legs",
    "hang_up_one",
    "reconcile",
]

BUDGET_S = 90.0
"""What must not be left behind is retried for at most this long, all pieces together."""
_DELETE_TRY_SECONDS = 3.0


@dataclass(frozen=True)
class Created:
    """Where to look for what one transfer may have created."""

    room: str
    """The caller's room: the caller (and their checkpoint), and `in_room` or merged legs."""
    transfer_id: str
    caller: str = ""
    """The caller's identity; '' when there is no caller (no checkpoint to clear)."""

    @property
    def consult_room(self) -> str:
        return consult_room(self.transfer_id)


async def reconcile(
    on: Calls,
    clock: Clock,
    created: Created,
    *,
    keep: Callable[[list[Participant], list[str]], str | None],
    clear: bool,
    until: float,
) -> str | None:
    """Make what `created` names match what must remain; returns the leg kept.

    `keep` picks, from the caller room's listing and this transfer's legs in it, the one
    supervisor to leave on the line (None: none); `clear`: the checkpoint goes too.
    Raises `TransferError` (reason `cleanup`) for a piece still failing at `until`.
    """
    # The consult room first: deleting it hangs up whoever is still in it.
    await delete_room(on, clock, created.consult_room, until)
    listed = await on.gateway.list_participants(on.log, created.room)
    kept = keep(listed, our_legs(listed, created.transfer_id))
    await hang_up_legs(on, clock, created.room, created.transfer_id, kept, until, listed=listed)
    if clear and created.caller:
        await clear_checkpoint(on, clock, created.room, created.caller, until)
    return kept


async def delete_room(
    on: Calls,
    clock: Clock,
    room: str,
    until: float,
    *,
    closed: Callable[[], bool] = lambda: False,
) -> None:
    """DeleteRoom until the room is gone; from the third try on, also hang up whoever is
    still in it, so that the room at least closes by itself once empty (empty_timeout).
    `closed()`: a `not found` is believed at once (it emptied and closed, as it should)."""
    tries = 0

    async def delete() -> bool:
        nonlocal tries
        tries += 1
        try:  # each try bounded, so a slow failing server leaves time for the next
            if await within(clock, _DELETE_TRY_SECONDS, on.gateway.delete_room(on.log, room)):
                return True
            if closed():
                return True
        except Exception:
            if tries < 3:
                raise
        # Not found, or failing: done if nobody is in it (an unknown room lists empty); from
        # the third try on, hang up whoever is.
        inside = [info.identity for info in await on.gateway.list_participants(on.log, room)]
        return not inside or (tries >= 3 and await hang_up_all(on, room, inside))

    await persist(clock, delete, "the consult room could not be deleted", until)


async def hang_up_legs(
    on: Calls,
    clock: Clock,
    room: str,
    transfer_id: str,
    keep: str | None,
    until: float,
    *,
    listed: list[Participant] | None = None,
) -> None:
    """Every leg `transfer_id` dialled into `room`, but `keep`; `listed`: the room's
    listing just read (used by the first try; the others list again)."""
    first = listed

    async def sweep() -> bool:
        nonlocal first
        everyone = first if first is not None else await on.gateway.list_participants(on.log, room)
        first = None
        legs = our_legs(everyone, transfer_id)
        return await hang_up_all(on, room, [leg for leg in legs if leg != keep])

    await persist(clock, sweep, "a supervisor leg could not be hung up", until)


async def hang_up_one(on: Calls, clock: Clock, room: str, identity: str, until: float) -> None:
    await persist(clock, lambda: hang_up_all(on, room, [identity]), "a participant stayed", until)


async def hang_up_all(on: Calls, room: str, identities: list[str]) -> bool:
    """True when every one of them is hung up (each tried, whatever the others do)."""
    done = True
    for identity in identities:
        try:
            await hang_up(on, room, identity)
        except Exception:
            done = False
    return done


async def clear_checkpoint(on: Calls, clock: Clock, room: str, caller: str, until: float) -> None:
    """Retried like a leg: a stale checkpoint would make a replacement worker undo a call
    that is fine. A caller `not_found` is checked, not trusted: only a caller really gone
    has nothing left to clear."""
    cleared = dict.fromkeys(CHECKPOINT_KEYS, "")

    async def clear() -> bool:
        try:
            await on.gateway.set_attributes(on.log, room, caller, cleared)
        except LiveKitError as error:
            if error.code != "not_found":
                raise
            return await absent(on, room, caller)
        return True

    await persist(clock, clear, "the transfer's checkpoint could not be cleared", until)
