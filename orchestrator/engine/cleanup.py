"""How a transfer ends: undo what it started, run the final step, build the one outcome.

The order is the people's: the caller first (off hold at once), then a supervisor whose part
is over (a declined, timed-out or left brief, a ringing phone when the caller hung up: their
leg ends before the AI says a word to the caller, and a ringing phone gets CANCEL as soon as
its leg shows), then what the caller hears, then what must not be left behind (the consult
room, every other leg, the caller's checkpoint: the pieces of `engine.reconcile`), retried
within one budget that all of them share (`BUDGET_S`, after the caller is off hold, plus a
dial's own deadline when one was cut short), so the outcome comes at a bounded time after
the caller is off hold whatever fails.
After a merge, the supervisor stays with the caller, the checkpoint stays `merged`, and the
engine watches the call until one of them hangs up (`engine.merged_call`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, Protocol, TypeVar

from orchestrator.engine.checkpoint import Checkpointing
from orchestrator.engine.hold import HoldState
from orchestrator.engine.inflight import CREATE_ROOM, LATE_ANSWER_S, WRITE, Request
from orchestrator.engine.legs import DialState, Legs, cancel_dial, dialing, dials, hang_up
from orchestrator.engine.merge import MergeState, uses_consult_room
from orchestrator.engine.outcome import Attempt, Callback, OutcomeKind, TransferOutcome
from orchestrator.engine.ports import MEDIA_TIMEOUT_S, Media, speech_timeout
from orchestrator.engine.reconcile import (
    BUDGET_S,
    clear_checkpoint,
    delete_room,
    hang_up_legs,
    hang_up_one,
)
from orchestrator.engine.retry import TRY_SECONDS
from orchestrator.flow.model import Flow
from orchestrator.flow.steps import STEP_TYPES
from orchestrator.logs import mask

__all__ = ["BUDGET_S", "Ending", "finish"]

T = TypeVar("T")


class Ending(Checkpointing, Legs, Protocol):
    """What ending a transfer reads of it, and the little it writes (`kept`, `gone`,
    `unsettled`, `leg_to_end`, `failure_reason`, `late_departures`)."""

    flow: Flow
    media: Media
    supervisor: str | None
    leg_to_end: str | None
    left_step: str
    dialling: DialState
    merge: MergeState
    kept: str | None
    gone: set[str]
    departures: dict[tuple[str, str], asyncio.Future[None]]
    late_departures: list[tuple[str, str, bool]]
    hold: HoldState
    failure_reason: str | None
    superseded: bool
    callback: Callback | None

    @property
    def state(self) -> str: ...

    @property
    def held(self) -> bool: ...

    async def within(self, seconds: float, work: Awaitable[T]) -> T: ...

    def render(self, template: str) -> str: ...

    def background(self) -> list[asyncio.Future[None]]: ...

    def release_hold(self) -> None: ...

    def forget(self) -> None: ...

    def resolve(self, outcome: TransferOutcome) -> None: ...


_CLEAR_RESERVE_S = 15.0  # the checkpoint's clearing always gets this much of the budget
CALLER_LEFT_NOTICE = "The caller has hung up, so there is no call to take. Thank you."


async def finish(t: Ending, trigger: str) -> TransferOutcome:
    """Undo what the transfer started, run the final step, and build the one outcome."""
    final = t.state
    caller_gone = final == "caller_hung_up" or trigger == "caller_hangup"
    # A departure still within its grace is not forgotten: a merged call's watch confirms
    # it (the transfer's confirmation is cancelled below), as one that left after the merge.
    t.late_departures.extend((room, identity, False) for room, identity in t.departures)
    if t.supervisor in t.gone:  # confirmed gone during the exit: the call ends for the caller
        t.late_departures.append((t.room, t.supervisor, True))
    for task in t.background():
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
    was_held = t.held
    t.release_hold()
    step = t.flow.steps.get(final)
    for stopping in list(t.dialling.stopping):  # a group's other legs: ended below instead
        stopping.cancel()
        with contextlib.suppress(BaseException):
            await stopping
    # The dials in flight (cut short with their step, or a group's other legs): the budget
    # stretches to the last one's deadline, and a late answer's margin.
    dialled = dials(t.inflight)
    deadline = max((r.deadline for r in dialled), default=None)
    late = max(deadline - t.clock.now(), 0.0) + LATE_ANSWER_S if deadline is not None else 0.0
    until = t.clock.now() + BUDGET_S + late
    # The caller first: off hold at once, however long the rest of the cleanup takes.
    if was_held:  # the hold audio is ours to stop, whether or not the caller is still there
        await _quietly(t, "stop_hold", t.media.stop_hold(t.room), MEDIA_TIMEOUT_S)
    # Then a supervisor whose part is over, before the caller hears anything.
    left = t.flow.steps.get(t.left_step)
    briefed = t.supervisor or t.leg_to_end
    if caller_gone and briefed and left is not None and left.type == "brief":
        # A deterministic notice, not silence, for a supervisor who was being briefed.
        notice = t.media.brief(t.leg_room, briefed, CALLER_LEFT_NOTICE)
        await _quietly(t, "notify_supervisor", notice, speech_timeout(CALLER_LEFT_NOTICE))
    if t.leg_to_end is not None:  # a failed brief or merge: one try now, cleanup retries
        leg, t.leg_to_end = t.leg_to_end, None
        t.unsettled.add(leg)
        with contextlib.suppress(Exception):
            await t.within(TRY_SECONDS, hang_up(t, t.leg_room, leg))
            t.unsettled.discard(leg)
    cutting: asyncio.Future[Any] | None = None
    if dialled:  # every ringing phone (a group's too) gets CANCEL as soon as its leg shows
        cutting = asyncio.gather(
            *(_quietly(t, "late_dial", _late_dial(t, request, until)) for request in dialled)
        )
    # Then the caller hears the AI again, or the AI leaves them with the supervisor.
    if step is not None and step.type == "exit":
        await _quietly(t, "agent_leave", t.media.agent_leave(t.room), MEDIA_TIMEOUT_S)
    elif (say := getattr(step, "say", None)) and not caller_gone:
        text = t.render(say)
        await _quietly(t, "say", t.media.say_to_caller(t.room, text), speech_timeout(text))
    # Then what must not be left behind, within one budget: requests still on their way
    # first (a CreateRoom landing after the deletion would make the room again).
    before_clear = until - _CLEAR_RESERVE_S
    exits = step is not None and step.type == "exit"
    keep = t.supervisor if t.merge.merged_at is not None and not caller_gone and exits else None
    # With `move`, a leg is in the caller's room only if a MoveParticipant was sent for it
    # (maybe landing unseen: a move cut short still completes at the server). What was sent
    # is the one thing LiveKit cannot tell; it spares a merged transfer a listing.
    moved = t.merge.moved - {keep}
    await _quietly(t, "create_consult_room", t.inflight.settle(before_clear, CREATE_ROOM))
    deleting: asyncio.Future[None] | None = None
    if uses_consult_room(t.flow, t.strategy):
        # By its name, whether or not its CreateRoom was sent or answered (a leg's join
        # makes it too); `not_found` is fine. Deleting it hangs up any leg still in it.
        deleted = _quietly(t, "delete_consult_room", _delete_consult_room(t, before_clear))
        if _emptied(t, dialled):  # nobody in it to leak: the checkpoint may go meanwhile
            deleting = asyncio.ensure_future(deleted)
        else:  # a leg may be in it: the checkpoint that finds it stays until it is gone
            await deleted
    if cutting is not None:
        await cutting
    # Legs in the caller's room, found by this transfer's id, all but the merged supervisor:
    # with `in_room` every leg was dialled there; with `move`, the moved ones. After the
    # consult room is gone, so a move still on its way finds nobody to move.
    # (`attempts` and `moved` say what was sent, which no listing can; either spares an
    # undialled transfer the listing.)
    if (t.strategy == "in_room" and t.dialling.attempts) or moved:
        await _quietly(t, "hang_up_supervisor", _sweep(t, keep, moved, before_clear))
    hung_up = False
    if step is not None and step.type == "hangup" and not caller_gone:
        # Retried like a leg: a caller left on the line needs the AI back, and no checkpoint.
        await _quietly(t, "hang_up", _hang_up(t, t.caller_identity, before_clear))
        hung_up = t.caller_identity in t.gone
        if not hung_up:
            t.failure_reason = "hangup_failed"
    t.kept = keep
    clears = (was_held or not caller_gone) and keep is None  # the start's claim counts too
    # `superseded` stays a flag: it is what the hold read on the caller (another transfer's
    # claim), and reading again here would not make the clear safe (LiveKit has no
    # compare-and-set on attributes); clearing would wipe that transfer's checkpoint.
    if clears and not hung_up and not t.superseded:
        # A checkpoint write cut short (or given up on) would undo the clear if it landed
        # after: settled first (at once when there is none).
        await _quietly(t, "checkpoint_writes", t.inflight.settle(until, WRITE))
        # After a hang-up too: one the engine deduced from a not_found may have been wrong.
        clearing = clear_checkpoint(t, t.clock, t.room, t.caller_identity, until)
        await _quietly(t, "clear_checkpoint", clearing)
    if keep is not None:  # the merged call is watched from now, not after the consult room
        t.forget()
    if deleting is not None:
        await deleting
    kind, reason = _kind(t, final, trigger)
    outcome = TransferOutcome(
        kind=kind,
        reason=reason,
        final_step=final,
        sip_status=t.dialling.last_sip_status,
        hold_seconds=round(t.hold.seconds, 3),
        time_to_supervisor_seconds=t.merge.merged_at,
        attempts=list(t.dialling.attempts),
        flow_version=t.flow_version,
        callback=t.callback,
    )
    promised = {"callback_number": mask(t.callback.number)} if t.callback else {}
    t.log.info(
        "transfer.finished",
        outcome=kind,
        reason=reason,
        hold_seconds=outcome.hold_seconds,
        time_to_supervisor_seconds=outcome.time_to_supervisor_seconds,
        attempts=len(t.dialling.attempts),
        sip_status_code=t.dialling.last_sip_status,
        dials=[_dialled(a) for a in t.dialling.attempts],
        flow_version=t.flow_version,
        **promised,
    )
    if keep is None:
        t.forget()
    t.resolve(outcome)  # with its log line: nobody sees one without the other
    return outcome


def _dialled(attempt: Attempt) -> dict[str, Any]:
    """One attempt as `transfer.finished` logs it (for `orchestrator report`): the target's
    name, never its number."""
    rang = None if attempt.ended_s is None else round(attempt.ended_s - attempt.started_s, 3)
    return {
        "target": attempt.target,
        "result": attempt.result,
        "caller_id": attempt.caller_id,
        "sip_status_code": attempt.sip_status,
        "seconds": rang,
    }


def _emptied(t: Ending, dialled: list[Request]) -> bool:
    """The consult room can hold no leg: no dial was in flight when the transfer ended
    (`dialled`; their `_late_dial`s may have settled some by now), every leg that ended was
    hung up, and the supervisor was moved out (merged) or their leg ended (a failed
    attempt). Then its deletion and the checkpoint's clear share the budget side by side.

    Read from the engine's record, not from LiveKit: every leg in it was confirmed gone by
    LiveKit's answer to its hang-up (or moved), which a listing would only repeat, at one
    ListParticipants per transfer, and a listing that fails would put the clear after the
    deletion, where a failing server leaves it too little of the budget."""
    if t.strategy != "move" or dialled or t.unsettled or t.leg_to_end:
        return False
    if t.merge.merged_at is not None:
        return t.merge.moved == {t.supervisor}
    return t.supervisor is None


async def _sweep(t: Ending, keep: str | None, moved: set[str], until: float) -> None:
    """Every leg of this transfer in the caller's room but `keep`, found by its
    `transfer.id`; the moved ones are gone then (a merged call's watch reads it)."""
    await hang_up_legs(t, t.clock, t.room, t.transfer_id, keep, until)
    t.gone.update(moved)
    t.unsettled.difference_update(moved)


async def _late_dial(t: Ending, request: Request, until: float) -> None:
    """A dial cut short (a `DIAL` request in `InFlight`): the server may still ring or
    connect its leg. It is removed as soon as it shows (a ringing phone gets CANCEL, an
    answered one BYE), and looked for until the request answers or can no longer land (its
    deadline and a late answer's margin): only the answer says whether the server placed
    the call. If it did (or may have), the leg is hung up; then the request is settled."""
    leg = dialing(request)
    try:
        if not await cancel_dial(t, request, min(request.lands_until, until)):
            return  # the phone refused it: no leg (any other error may be a lost answer)
        await _hang_up(t, leg.identity, until, room=leg.room)
        if t.strategy == "move":  # the leg's join may have created the consult room again
            await _delete_consult_room(t, until)
    finally:
        t.inflight.taken(request)


async def _delete_consult_room(t: Ending, until: float) -> None:
    # "Not found" after a merge: it emptied and closed, as it should.
    closed = lambda: t.merge.merged_at is not None and not t.unsettled  # noqa: E731
    await delete_room(t, t.clock, t.consult_room, until, closed=closed)


async def _hang_up(t: Ending, identity: str, until: float, *, room: str = "") -> None:
    """One participant (the moved, or maybe moved, supervisor; the caller of a `hangup`
    step; a late dial's leg), in the caller's room unless `room` says otherwise."""
    await hang_up_one(t, t.clock, room or t.room, identity, until)
    t.gone.add(identity)
    t.unsettled.discard(identity)


async def _quietly(
    t: Ending, what: str, work: Awaitable[Any], seconds: float | None = None
) -> None:
    """Cleanup goes on when one piece fails or stalls; the failure is logged, never raised.
    Without `seconds`, the piece is bounded by the budget it was given (`persist`)."""
    try:
        await (work if seconds is None else t.within(seconds, work))
    except Exception as error:
        t.log.warning("transfer.cleanup_failed", step=what, error=type(error).__name__)


def _kind(t: Ending, final: str, trigger: str) -> tuple[OutcomeKind, str | None]:
    if trigger == "cancelled":
        return "failed", "in_progress" if t.superseded else "cancelled"
    if final == "caller_hung_up":
        return "caller_hung_up", None
    if final == "cold_transferred":
        return "cold_transferred", None if t.merge.confirmed else "unconfirmed"
    if final == "aborted":
        return "failed", "config_error"
    step = t.flow.steps[final]
    kind: OutcomeKind = STEP_TYPES[step.type].ends_as  # type: ignore[assignment]
    if kind == "merged":
        return kind, None
    if t.failure_reason == "hangup_failed":  # the caller is still on the line, with the AI
        return "returned", t.failure_reason
    if trigger == "failed" and t.failure_reason:  # say which failure: permission, config...
        return kind, t.failure_reason
    return kind, trigger
