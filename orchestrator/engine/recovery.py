"""Crash recovery: a replacement worker finishes or unwinds what a dead one left.

A transfer writes its progress on the caller (`transfer.id`, `transfer.state`,
`transfer.consult_room`). When a worker dies mid-transfer, LiveKit dispatches a new job to the
room; it reads those attributes and makes the call whole again. Nothing stored elsewhere is
needed: the supervisor legs carry `transfer.id` and `transfer.role` attributes, and the consult
room's name follows from the transfer id.
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator.engine.actions import CHECKPOINT_KEYS
from orchestrator.engine.in_room import our_legs
from orchestrator.engine.outcome import TransferOutcome
from orchestrator.engine.ports import Media
from orchestrator.flow.model import Flow
from orchestrator.livekit import Gateway, Participant

__all__ = ["recover"]

# What `new_transfer_id` makes. Anything else is not ours, and names no room to delete.
_TRANSFER_ID = re.compile(r"[a-z]{12}")


async def recover(
    gateway: Gateway,
    media: Media,
    log: Any,
    flow: Flow,
    room: str,
    caller: Participant,
) -> TransferOutcome | None:
    transfer_id = caller.attributes.get("transfer.id", "")
    if not _TRANSFER_ID.fullmatch(transfer_id):
        return None
    state = caller.attributes.get("transfer.state", "")
    log = log.bind(transfer_id=transfer_id)
    log.info("transfer.recovered", checkpoint=state if state.isidentifier() else "unknown")
    merged = state == "merged"
    # The consult room is deleted in every case: it hangs up whoever is still in it.
    await gateway.delete_room(log, f"consult-{transfer_id}")
    keep = None
    for identity in our_legs(await gateway.list_participants(log, room), transfer_id):
        if merged and keep is None:
            keep = identity  # the supervisor the caller is talking to
        else:
            await gateway.remove_participant(log, room, identity)
    cleared = dict.fromkeys(CHECKPOINT_KEYS, "")
    await gateway.set_attributes(log, room, caller.identity, cleared)
    if merged:  # last: leaving may end this job
        await media.agent_leave(room)
    else:
        await media.stop_hold(room)  # a fresh session is not holding; this makes sure
    outcome = TransferOutcome(
        kind="merged" if merged else "returned",
        reason=None if merged else "worker_lost",
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
