"""Crash recovery: a replacement worker finishes or unwinds what a dead one left.

A transfer writes its progress on the caller (`transfer.id`, `transfer.state`,
`transfer.consult_room`). When a worker dies mid-transfer, LiveKit dispatches a new job to the
room; it reads those attributes and makes the call whole again. Nothing stored elsewhere is
needed: the supervisor legs carry `transfer.id` and `transfer.role` attributes, and the consult
room's name follows from the transfer id.
"""

from __future__ import annotations

from typing import Any

from orchestrator.clock import Clock, within
from orchestrator.engine.checkpoint import CHECKPOINT_KEYS, holder
from orchestrator.engine.in_room import our_legs
from orchestrator.engine.outcome import TransferOutcome
from orchestrator.engine.ports import MEDIA_TIMEOUT_S, Media
from orchestrator.flow.model import Flow
from orchestrator.livekit import Gateway, Participant

__all__ = ["recover"]


async def recover(
    gateway: Gateway,
    media: Media,
    clock: Clock,
    log: Any,
    flow: Flow,
    room: str,
    caller: Participant,
) -> TransferOutcome | None:
    transfer_id = holder(caller)  # not one the engine makes: not ours, names no room
    if not transfer_id:
        return None
    state = caller.attributes.get("transfer.state", "")
    log = log.bind(transfer_id=transfer_id)
    log.info("transfer.recovered", checkpoint=state if state.isidentifier() else "unknown")
    # The consult room is deleted in every case: it hangs up whoever is still in it.
    await gateway.delete_room(log, f"consult-{transfer_id}")
    listed = await gateway.list_participants(log, room)
    legs = our_legs(listed, transfer_id)
    # A merge is finished only with its supervisor still on the line: else the AI stays.
    live = [p.identity for p in listed if p.identity in legs and _on_the_line(p)]
    merged = state == "merged" and bool(live)
    keep = live[0] if merged else None
    for identity in legs:
        if identity != keep:
            await gateway.remove_participant(log, room, identity)
    cleared = dict.fromkeys(CHECKPOINT_KEYS, "")
    await gateway.set_attributes(log, room, caller.identity, cleared)
    # Last, and bounded: leaving may end this job.
    leave = media.agent_leave(room) if merged else media.stop_hold(room)
    try:  # a fresh session is not holding; stop_hold makes sure
        await within(clock, MEDIA_TIMEOUT_S, leave)
    except Exception as error:
        log.warning("transfer.media_failed", call="recover", error=type(error).__name__)
    reason = "supervisor_left" if state == "merged" else "worker_lost"
    outcome = TransferOutcome(
        kind="merged" if merged else "returned",
        reason=None if merged else reason,
        final_step=state if state.isidentifier() else "unknown",
    )
    log.info(
        "transfer.finished",
        outcome=outcome.kind,
        reason=outcome.reason,
        hold_seconds=None,
        time_to_supervisor_seconds=None,
        attempts=0,
        sip_status_code=None,
    )
    return outcome


def _on_the_line(leg: Participant) -> bool:
    return leg.attributes.get("sip.callStatus", "active") == "active"
