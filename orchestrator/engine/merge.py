"""The merge: the supervisor reaches the caller, through the consult room and a
MoveParticipant (`move`), or by opening the audio paths in the caller's room (`in_room`).

The consult room is created while the caller is put on hold (nothing waits for it then);
the dial waits for it before placing the leg there. A merge that is done is not undone:
its bookkeeping (hold audio, checkpoint) may fail without failing the step.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from orchestrator.engine.checkpoint import Checkpointing, progress, progressed
from orchestrator.engine.in_room import Withholding, open_paths
from orchestrator.engine.inflight import CREATE_ROOM, InFlight
from orchestrator.engine.legs import Legs
from orchestrator.engine.ports import MEDIA_TIMEOUT_S, Media
from orchestrator.engine.retry import TRY_SECONDS
from orchestrator.errors import LiveKitError
from orchestrator.flow.model import Flow, MergeStep
from orchestrator.livekit import REQUEST_TIMEOUT_S
from orchestrator.livekit.names import CALL_STATUS

__all__ = [
    "MergeState",
    "Merging",
    "consult_room_ready",
    "create_consult_room",
    "left_moving",
    "merge",
    "uses_consult_room",
]

T = TypeVar("T")


@dataclass
class MergeState:
    """How the supervisor reaches the caller: the consult room, the move, the merge. Written
    by this module only; cleanup reads it to know what to undo or keep."""

    consult_created: bool = False
    """The consult room's CreateRoom was sent (it is sent once; the request itself is in
    the transfer's `InFlight`, which forgets it once answered, and cleanup deletes the room
    by name whatever this says)."""
    consult_creating: asyncio.Future[None] | None = None
    """The consult room's CreateRoom, for the dial to wait for and read its answer (the
    registry forgets an answered error, which fails the dial's step once); cleanup settles
    it through the transfer's `InFlight` instead."""
    moving: bool = False
    """A MoveParticipant is in flight, or its landing is being checked: a flag, not the
    registry's, because it says how to read a departure (a move shows as leaving) for the
    whole move, retries and checks included, not whether a request may still land (the
    move that may is recorded in `moved`)."""
    hung_up_moving: bool = False
    """The supervisor hung up while the move was in flight (`left_moving`)."""
    moved: set[str] = field(default_factory=set)
    """Legs a MoveParticipant was sent for: each may be in the caller's room, seen or not
    (a move cut short still completes at the server)."""
    merged_at: float | None = None
    """Seconds from the start to the merge."""
    confirmed: bool = False
    """A cold transfer's REFER was confirmed taken."""
    opening: bool = False
    """`in_room`: the merge has begun to open the paths; no cut may land after it."""


def left_moving(merge: MergeState, hung_up: bool) -> None:
    """The supervisor left while their move was in flight (a move shows as leaving): a
    hang-up is looked at once they are back (`_landed`)."""
    merge.hung_up_moving |= hung_up


class Merging(Checkpointing, Legs, Protocol):
    """What the merge reads and writes of its transfer."""

    flow: Flow
    media: Media
    supervisor: str | None
    """The supervisor leg of the attempt under way (None between attempts)."""
    merge: MergeState
    inflight: InFlight
    isolating: set[asyncio.Task[None]]
    withholding: dict[str, Withholding]

    async def within(self, seconds: float, work: Awaitable[T]) -> T: ...

    def elapsed(self) -> float: ...

    def release_hold(self) -> None: ...


def uses_consult_room(flow: Flow, strategy: str) -> bool:
    """The flow dials into a consult room (`move`): only then may the room's name name one."""
    return strategy == "move" and any(step.type == "dial" for step in flow.steps.values())


def create_consult_room(t: Merging) -> None:
    """Start creating the consult room, once, if the flow will dial into it. Left running
    if the step is cancelled: cleanup settles it (`InFlight`) before deleting the room."""
    if t.merge.consult_created or not uses_consult_room(t.flow, t.strategy):
        return
    t.merge.consult_created = True
    creating = asyncio.ensure_future(
        t.gateway.create_room(t.log, t.consult_room, empty_timeout=60)
    )
    t.inflight.add(CREATE_ROOM, creating, t.clock.now() + REQUEST_TIMEOUT_S)
    t.merge.consult_creating = creating


async def consult_room_ready(t: Merging) -> None:
    """The consult room exists (or its creation failed: the step fails, once; a later
    visit dials anyway, and the leg's join creates the room)."""
    create_consult_room(t)
    creating = t.merge.consult_creating
    if creating is not None:
        try:
            await asyncio.shield(creating)
        finally:
            if creating.done():  # else still cleanup's to settle
                t.merge.consult_creating = None


async def _move(t: Merging, supervisor: str, seconds: float) -> str | None:
    """MoveParticipant from the consult room; None once moved, else the failure outcome."""
    t.merge.moving = True
    t.merge.hung_up_moving = False
    t.merge.moved.add(supervisor)  # from now on they may be in the caller's room, seen or not
    try:
        for _ in range(2):  # one retry, after checking a lost answer did not move them already
            try:
                await t.within(seconds, t.gateway.move(t.log, t.consult_room, supervisor, t.room))
                return await _landed(t, supervisor)
            except (LiveKitError, TimeoutError):
                if await t.gateway.get_participant(t.log, t.room, supervisor) is not None:
                    return await _landed(t, supervisor)
                if await t.gateway.get_participant(t.log, t.consult_room, supervisor) is None:
                    return "supervisor_left"  # they hung up during the move
        return "move_failed"
    finally:
        t.merge.moving = False


async def _landed(t: Merging, supervisor: str) -> str | None:
    """The move is done: None once the supervisor is confirmed in the caller's room, still
    on the phone; `supervisor_left` when they hung up while it landed (their departure
    came while the move was in flight); `move_failed` when LiveKit cannot say (two looks)."""
    for _ in range(2):
        if t.merge.hung_up_moving:
            return "supervisor_left"
        try:
            seen = await t.within(
                TRY_SECONDS, t.gateway.get_participant(t.log, t.room, supervisor)
            )
            if seen is None:  # a `not_found` can be wrong: the room's listing says too
                listed = await t.within(TRY_SECONDS, t.gateway.list_participants(t.log, t.room))
                seen = next((p for p in listed if p.identity == supervisor), None)
        except (LiveKitError, TimeoutError):
            continue
        gone = seen is None or seen.attributes.get(CALL_STATUS) == "hangup"
        return "supervisor_left" if gone or t.merge.hung_up_moving else None
    return "move_failed"


async def _open(t: Merging, supervisor: str, seconds: float) -> str | None:
    """`in_room`: let the supervisor and the caller hear each other; one retry."""
    t.merge.opening = True
    for cut in list(t.isolating):  # a cut still on its way must not land after the opening
        cut.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await cut
    for _ in range(2):
        with contextlib.suppress(LiveKitError, TimeoutError):
            if await t.within(seconds, open_paths(t, supervisor)):
                return None
        # Failed, or not listed: a supervisor who hung up is not merged with the caller.
        if await t.gateway.get_participant(t.log, t.room, supervisor) is None:
            return "supervisor_left"
    return "move_failed"


async def merge(t: Merging, step: MergeStep) -> str:
    assert t.supervisor is not None
    join = _open if t.strategy == "in_room" else _move
    failure = await join(t, t.supervisor, step.timeout)
    if failure is not None:
        return failure
    t.merge.merged_at = t.elapsed()
    t.release_hold()
    try:  # a done merge is not undone by hold audio that will not stop
        await t.within(MEDIA_TIMEOUT_S, t.media.stop_hold(t.room))
    except Exception as error:
        t.log.warning("transfer.media_failed", call="stop_hold", error=type(error).__name__)
    await progressed(t)  # `briefing` must not land after `merged`
    await progress(t, "merged")  # bookkeeping must not undo a done merge
    return "merged"
