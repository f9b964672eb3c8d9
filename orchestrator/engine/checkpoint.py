"""What the engine writes on the caller: the claim, and the checkpoint of progress.

The caller's attributes `transfer.id`, `transfer.state` and `transfer.consult_room` are both a
lock and a record. As a record, a transfer writes its progress (`requested`, `held`,
`briefing`, `merged`) so a replacement worker can finish or unwind (`engine.recovery`), with
`transfer.flow_version`, the version of the flow it runs (`flow.version`), until the merge:
from then on the call no longer runs the flow, and `merged` drops it.

As a lock, for single flight per caller across workers: two workers (two engines) can be
asked to transfer the same caller (a job dispatched twice, a retry from another process), and
only one may hold the caller and ring supervisors. LiveKit has no compare-and-set on
attributes, so the claim is made in three moves:

1. a caller who already carries another transfer's `transfer.id` is refused (`recover()`
   clears what a dead worker left);
2. the engine writes its own id (`transfer.state: requested`) and reads it back: if another
   engine wrote after it, the last writer wins and this one backs off;
3. before the caller's `held` checkpoint (the last write before any dial), the transfer reads
   the caller again; a transfer whose claim another transfer overwrote ends at once as
   `failed` / `in_progress`, without a word to the caller and without clearing the other
   transfer's checkpoint.

Two starts whose claims both pass step 2 (each read back before the other's write landed)
are told apart at step 3, at the latest before the first dial.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import string
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from orchestrator.clock import Clock, within
from orchestrator.engine.inflight import LATE_ANSWER_S, WRITE, InFlight
from orchestrator.engine.legs import Calls
from orchestrator.engine.retry import persist
from orchestrator.errors import LiveKitError, TransferError, TransferInProgress
from orchestrator.livekit import REQUEST_TIMEOUT_S, Gateway, Participant
from orchestrator.livekit.names import (
    CHECKPOINT_KEYS,
    FLOW_VERSION,
    TRANSFER_ID,
    is_supervisor_leg,
)

__all__ = [
    "CHECKPOINT_KEYS",
    "LATE_WRITE_S",
    "CheckpointState",
    "Checkpointing",
    "abandon",
    "attributes",
    "checkpoint",
    "claim",
    "claimed_by",
    "holder",
    "is_transfer_id",
    "new_transfer_id",
    "progress",
    "progress_soon",
    "progressed",
    "refuse_if_held",
    "restore",
    "take_back",
]


@dataclass
class CheckpointState:
    """A transfer's checkpoint as this module keeps it; nothing else writes it."""

    written: str = "requested"
    """The last state written on the caller (the claim)."""
    wanted: str = "requested"
    """The latest state asked for (written, or waiting for its turn)."""
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held by the one checkpoint write under way (the writes themselves, answered or not,
    are in the transfer's `InFlight` as `checkpoint`)."""
    progressing: asyncio.Task[None] | None = None
    """The `progress_soon` chain."""


class Checkpointing(Calls, Protocol):
    """What writing a transfer's checkpoint needs, and the bookkeeping of its writes."""

    clock: Clock
    room: str
    caller_identity: str
    transfer_id: str
    consult_room: str
    flow_version: str
    strategy: Literal["move", "in_room"]
    saved: CheckpointState
    inflight: InFlight
    """Requests that may still take effect; checkpoint writes are added as `checkpoint`."""
    ending: bool
    """Cleanup has begun: no checkpoint write any more."""

    async def caller_gone(self) -> bool: ...


LATE_WRITE_S = REQUEST_TIMEOUT_S + LATE_ANSWER_S
"""A write its client gave up on (or that was cut short) is waited for until this long
after it was sent before it is taken as never landing; one LiveKit applies later is beyond
what the library sees (README, Limits)."""
TAKE_BACK_S = 90.0
"""How long a start that wrote its claim and cannot go on tries to take it back (as long
as a cleanup tries to clear a checkpoint)."""


def attributes(
    transfer_id: str, state: str, consult_room: str, flow_version: str = ""
) -> dict[str, str]:
    """The checkpoint as the caller's attributes ('' removes one: `merged` has no version)."""
    values = (transfer_id, state, consult_room, flow_version)
    return dict(zip(CHECKPOINT_KEYS, values, strict=True))


async def checkpoint(t: Checkpointing, state: str) -> None:
    """Record progress on the caller, so a replacement worker can finish or unwind; a
    failing server gets two more tries.

    Every write of a transfer's checkpoint comes here and they are ordered: one at a time
    (`CheckpointState.turn`, after any write a cancelled caller left in flight), the latest state
    asked for wins (an older one still waiting for its turn is skipped: the newer one is
    written after it), and nothing is written once cleanup has begun (it clears the
    checkpoint, or leaves `merged` to the merged call's watch). A caller's rejoin puts back
    the latest state through here too (`restore`), so its repair cannot land after a newer
    state, nor after the clear."""
    t.saved.wanted = state
    async with t.saved.turn:
        if running := t.inflight.running(WRITE):  # one a cancelled step left: it lands first
            with contextlib.suppress(TimeoutError):
                await within(t.clock, REQUEST_TIMEOUT_S + 1.0, asyncio.wait(running))
        if t.ending or t.saved.wanted != state:
            return
        await _write(t, state)


async def restore(t: Checkpointing) -> None:
    """Write the latest checkpoint again, in its turn: a caller's rejoin dropped it."""
    await progress(t, t.saved.wanted)


async def _write(t: Checkpointing, state: str) -> None:
    consult = t.consult_room if t.strategy == "move" else ""
    version = "" if state == "merged" else t.flow_version
    values = attributes(t.transfer_id, state, consult, version)
    for pause in (0.5, 1.0, None):
        # Left running if the step is cancelled: cleanup settles it, or it could land
        # after the checkpoint is cleared.
        write = asyncio.ensure_future(
            t.gateway.set_attributes(t.log, t.room, t.caller_identity, values)
        )
        t.inflight.add(WRITE, write, t.clock.now() + REQUEST_TIMEOUT_S)
        try:
            await asyncio.shield(write)
            t.saved.written = state
            return
        except LiveKitError as error:
            if error.code == "not_found" and await t.caller_gone():
                return
            if pause is None or not error.retryable:
                raise
        await t.clock.sleep(pause)


async def progress(t: Checkpointing, state: str) -> None:
    """A checkpoint after 'held' must not end a transfer that is going well: a replacement
    worker unwinds from 'held' as it would from 'briefing'."""
    try:
        await checkpoint(t, state)
    except LiveKitError as error:
        t.log.warning("transfer.checkpoint_failed", state=state, error=error.code)


def progress_soon(t: Checkpointing, state: str) -> None:
    """`progress` in the background, after any earlier one, while the step goes on: for a
    state recovery treats as the one before it (`briefing` as `held`). Cleanup stops it."""
    earlier = t.saved.progressing

    async def write() -> None:
        if earlier is not None:
            try:
                await asyncio.wait({earlier})
            except asyncio.CancelledError:  # cleanup stops the whole chain
                earlier.cancel()
                raise
        await progress(t, state)

    t.saved.progressing = asyncio.ensure_future(write())


async def progressed(t: Checkpointing) -> None:
    """Every `progress_soon` has landed (or given up): a later state must land after it."""
    if t.saved.progressing is not None:
        await asyncio.wait({t.saved.progressing})


async def claimed_by(t: Checkpointing) -> str | None:
    """The transfer id on the caller; None when LiveKit cannot say (the claim stands)."""
    try:
        caller = await t.gateway.get_participant(t.log, t.room, t.caller_identity)
    except LiveKitError:
        return None
    return holder(caller) if caller is not None else None


_TRANSFER_ID = re.compile(r"[a-z]{12}")  # what `new_transfer_id` makes


def new_transfer_id() -> str:
    """Opaque, and never a run of digits a log masker or a reader could take for a number."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(12))


def is_transfer_id(text: str) -> bool:
    """Whether `text` is an id this engine makes (anything else names nothing of ours)."""
    return bool(_TRANSFER_ID.fullmatch(text))


def holder(caller: Participant | None) -> str:
    """The transfer id the caller's checkpoint names, or '' (also for an id the engine does
    not make: an attribute someone else wrote is neither a lock nor anything to recover)."""
    named = caller.attributes.get(TRANSFER_ID, "") if caller is not None else ""
    return named if is_transfer_id(named) else ""


def refuse_if_held(
    room: str, caller: Participant, everyone: list[Participant], dead: str = ""
) -> None:
    """Refuse a caller claimed by another transfer, or already with a supervisor a transfer
    dialled (merged, or a leg still being hung up). `dead`: a claim this engine wrote for a
    start that failed and could not take it back; it locks nobody out."""
    claimed = holder(caller)
    if (claimed and claimed != dead) or any(is_supervisor_leg(p.attributes) for p in everyone):
        raise TransferInProgress(room, elsewhere=True)


async def claim(
    gateway: Gateway,
    log: Any,
    room: str,
    caller: str,
    transfer_id: str,
    consult: str,
    writes: InFlight,
    flow_version: str = "",
) -> None:
    """Write this transfer's claim on the caller, then read it back (see the module doc).
    The write goes on if the start is cancelled (it is in `writes`, the start's registry:
    the transfer's own `InFlight` does not exist yet, and the claim's write is answered
    before it does): `take_back` settles it, or it could land after the claim was taken
    back."""
    values = attributes(transfer_id, "requested", consult)
    values[FLOW_VERSION] = flow_version
    write = asyncio.ensure_future(gateway.set_attributes(log, room, caller, values))
    writes.add(WRITE, write, writes.clock.now() + REQUEST_TIMEOUT_S)
    try:
        await asyncio.shield(write)
        seen = await gateway.get_participant(log, room, caller)
    except LiveKitError as error:
        if error.code != "not_found":
            raise
        seen = None
    # Not found: the caller has just hung up (the transfer sees it and ends as such), or
    # LiveKit answered wrongly (the hold checks the claim again before the first dial).
    if seen is not None and holder(seen) != transfer_id:
        raise TransferInProgress(room, elsewhere=True)


async def take_back(
    gateway: Gateway,
    clock: Clock,
    log: Any,
    room: str,
    caller: str,
    transfer_id: str,
    writes: InFlight,
) -> bool:
    """Clear a claim this start wrote (its write in `writes`) and cannot go on with, only
    while the caller still carries it (another transfer's claim is left alone); retried for
    `TAKE_BACK_S`, once the claim's write has answered, or, if it failed, once it cannot
    land any more (`LATE_WRITE_S` after it was sent). True when no claim of this transfer
    is left on the caller (as far as LiveKit says)."""
    await writes.settle(clock.now() + LATE_WRITE_S, WRITE)

    async def once() -> bool:
        seen = await gateway.get_participant(log, room, caller)
        if seen is None:  # a `not_found` can be wrong: the room's listing says too
            listed = await gateway.list_participants(log, room)
            seen = next((p for p in listed if p.identity == caller), None)
        if seen is None or holder(seen) != transfer_id:
            return True
        await gateway.set_attributes(log, room, caller, dict.fromkeys(CHECKPOINT_KEYS, ""))
        return True

    try:
        await persist(clock, once, "the claim could not be taken back", clock.now() + TAKE_BACK_S)
    except TransferError:
        log.warning("transfer.claim_left")
        return False
    return True


async def abandon(
    gateway: Gateway,
    clock: Clock,
    log: Any,
    whose: tuple[str, str, str],
    error: BaseException,
    claimed: InFlight,
    flow_version: str = "",
) -> bool:
    """A start that wrote its claim (room, caller, transfer id in `whose`) and does not go
    on because of `error`: the claim taken back, even if the start is cancelled meanwhile
    (unless another transfer's overwrote it), then the start's one outcome logged, like any
    transfer's (`failed`). False when a claim of it may be left on the caller."""
    taken = True
    if not isinstance(error, TransferInProgress):
        taking = asyncio.ensure_future(take_back(gateway, clock, log, *whose, claimed))
        while not taking.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(taking)
        taken = taking.result()
    if isinstance(error, TransferError):
        reason = error.reason
    elif isinstance(error, asyncio.CancelledError):
        reason = "cancelled"
    elif isinstance(error, LiveKitError) and error.denied:
        reason = "permission"
    else:
        reason = "unavailable"
    log.info(
        "transfer.finished",
        outcome="failed",
        reason=reason,
        hold_seconds=0.0,
        time_to_supervisor_seconds=None,
        attempts=0,
        sip_status_code=None,
        flow_version=flow_version,
    )
    return taken
