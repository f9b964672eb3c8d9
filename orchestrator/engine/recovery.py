"""Crash recovery: a replacement worker finishes or unwinds what a dead one left.

A transfer writes its progress on the caller (`transfer.id`, `transfer.state`,
`transfer.consult_room`); a merged call keeps `merged` until it ends. When a worker dies
mid-transfer or during a merged call, LiveKit (or, self-hosted, the watchdog) dispatches a
new job to the room; it reads those attributes and makes the call whole again. Nothing stored
elsewhere is needed: the supervisor legs carry `transfer.id` and `transfer.role` attributes,
and the consult room's name follows from the transfer id. What the dead worker's transfer
created is made to match what must remain by the same reconciliation a transfer's cleanup
uses (`engine.reconcile`), retried within its budget.

Across versions of the flow (the checkpoint's `transfer.flow_version` against the flow this
worker runs, `orchestrator.flow.version`), the rule is to unwind: a replacement worker never
resumes a flow midway, so it needs none of the recorded version's steps to do it. A transfer
not yet merged is unwound as it would be under the same version, with reason
`flow_changed` instead of `worker_lost` (the report tells the two apart); a merged call is
kept and watched as ever, since the flow has no say after the merge. A checkpoint without
a version (written before versions were recorded) counts as the same version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.clock import Clock, within
from orchestrator.engine.checkpoint import holder, is_transfer_id
from orchestrator.engine.merged_call import release
from orchestrator.engine.outcome import TransferOutcome
from orchestrator.engine.ports import MEDIA_TIMEOUT_S, Media
from orchestrator.engine.reconcile import BUDGET_S, Created, reconcile
from orchestrator.flow.version import is_flow_version
from orchestrator.livekit import Gateway, Participant
from orchestrator.livekit.names import (
    CALL_STATUS,
    FLOW_VERSION,
    STATE,
    TRANSFER_ID,
    is_supervisor_leg,
)

__all__ = ["recover", "recover_without_caller"]


async def recover(
    gateway: Gateway,
    media: Media,
    clock: Clock,
    log: Any,
    current_version: str,
    room: str,
    caller: Participant,
) -> tuple[TransferOutcome, str | None] | None:
    """The outcome, and the supervisor left on the line with the caller (to watch until one
    of them hangs up), or None when the caller carries no checkpoint. `current_version`:
    the version of the flow this worker runs."""
    transfer_id = holder(caller)  # not one the engine makes: not ours, names no room
    if not transfer_id:
        return None
    state = caller.attributes.get(STATE, "")
    recorded = caller.attributes.get(FLOW_VERSION, "")
    recorded = recorded if is_flow_version(recorded) else ""  # forged: names nothing
    changed = bool(recorded) and recorded != current_version
    log = log.bind(transfer_id=transfer_id)
    log.info(
        "transfer.recovered",
        checkpoint=state if state.isidentifier() else "unknown",
        flow_version=recorded,
        current_flow_version=current_version,
    )
    merged = state == "merged"

    def on_the_line(listed: list[Participant], legs: list[str]) -> str | None:
        """A merge goes on only with its supervisor still on the line."""
        live = [p.identity for p in listed if p.identity in legs and _on_the_line(p)]
        return live[0] if merged and live else None

    # The consult room is deleted in every case (it hangs up whoever is still in it), every
    # other leg hung up, and the checkpoint cleared unless the merge goes on.
    keep = await reconcile(
        _Calls(gateway, log),
        clock,
        Created(room, transfer_id, caller.identity),
        keep=on_the_line,
        clear=not merged,
        until=clock.now() + BUDGET_S,
    )
    if merged and keep is None:
        # The supervisor hung up while no worker watched: the call ends for the caller too.
        await _end_unwatched(gateway, clock, log, room, "supervisor", [caller.identity])
    # Last, and bounded: leaving may end this job. A merged call keeps its checkpoint.
    leave = media.agent_leave(room) if merged else media.stop_hold(room)
    try:  # a fresh session is not holding; stop_hold makes sure
        await within(clock, MEDIA_TIMEOUT_S, leave)
    except Exception as error:
        log.warning("transfer.media_failed", call="recover", error=type(error).__name__)
    outcome = TransferOutcome(
        kind="merged" if merged else "returned",
        reason=None if merged else "flow_changed" if changed else "worker_lost",
        final_step=state if state.isidentifier() else "unknown",
        flow_version=recorded,
    )
    _finished(log, outcome)
    return outcome, keep


async def _end_unwatched(
    gateway: Gateway, clock: Clock, log: Any, room: str, first: str, others: list[str]
) -> None:
    """`first` hung up while no worker watched the call: release the `others`. How long the
    call lasted is unknown (call_seconds null): nobody watched its end."""
    seen = clock.now()
    released = True
    for other in others:
        released &= await release(gateway, clock, log, room, other)
    log.info(
        "transfer.call_ended",
        hung_up_first=first,
        call_seconds=None,
        release_ms=round((clock.now() - seen) * 1000, 1),
        released=released,
    )


def _finished(log: Any, outcome: TransferOutcome) -> None:
    """A recovery's outcome, logged as a transfer's is (what it did is all it knows)."""
    log.info(
        "transfer.finished",
        outcome=outcome.kind,
        reason=outcome.reason,
        hold_seconds=None,
        time_to_supervisor_seconds=None,
        attempts=0,
        sip_status_code=None,
        flow_version=outcome.flow_version,
    )


def _on_the_line(leg: Participant) -> bool:
    return leg.attributes.get(CALL_STATUS, "active") == "active"


async def recover_without_caller(
    gateway: Gateway, clock: Clock, log: Any, room: str
) -> TransferOutcome | None:
    """No caller in `room`: one who hung up while no worker watched (their transfer, or their
    merged call) left this library's supervisor legs alone on the line, and the checkpoint
    went with them. The legs are released (the room is deleted: their phones get BYE).
    None when there are no such legs."""
    listed = await gateway.list_participants(log, room)
    legs = [
        p
        for p in listed
        if is_supervisor_leg(p.attributes) and is_transfer_id(p.attributes.get(TRANSFER_ID, ""))
    ]
    if not legs:
        return None
    log = log.bind(transfer_id=legs[0].attributes[TRANSFER_ID])
    log.info("transfer.recovered", checkpoint="caller_gone")
    await _end_unwatched(gateway, clock, log, room, "caller", [p.identity for p in legs])
    outcome = TransferOutcome(kind="caller_hung_up", reason="worker_lost", final_step="unknown")
    _finished(log, outcome)
    return outcome


@dataclass(frozen=True)
class _Calls:
    """LiveKit's calls and the log they are written to (`legs.Calls`)."""

    gateway: Gateway
    log: Any
