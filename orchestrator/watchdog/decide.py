"""What the watchdog decides, from what LiveKit says a room holds: pure functions, no I/O.

A *loss* is an agent gone from a room whose caller (a SIP participant) still carries this
library's checkpoint (`transfer.id` as the engine makes them, `transfer.state` one the engine
writes). Every other
room is none of the watchdog's business: no checkpoint (no transfer, or a transfer that ended
and cleared it), or an agent still there (a reconnect, or the replacement already came).

Once per loss, across duplicate and reordered webhooks and across watchdogs side by side: a
loss is named by the room, the checkpoint's transfer id and the agent that left (identity
and participant sid; a sweep, which cannot know who left, names it by the generation it
would start). Before dispatching,
a watchdog writes its *claim* on the caller (`watchdog.claim`, beside the checkpoint), waits
for other writes to land, and reads it back: LiveKit keeps the last write, so exactly one
watchdog reads back its own claim and dispatches. The claim stays on the caller as the record
that this loss was handled (its generation bounds the dispatches of one transfer) for as long
as the checkpoint it names: then a sweep removes it (`stale_claims`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from orchestrator.engine.checkpoint import holder
from orchestrator.livekit import Participant
from orchestrator.livekit.dispatches import Dispatch
from orchestrator.livekit.names import STATE, is_supervisor_leg

__all__ = [
    "CLAIM_KEY",
    "MAX_DISPATCHES",
    "RECOVERABLE_STATES",
    "Claim",
    "Loss",
    "Skip",
    "assess",
    "checkpointed_caller",
    "confirm",
    "metadata_for",
    "stale_claims",
]

CLAIM_KEY = "watchdog.claim"
"""Not a `transfer.*` key: it is the watchdog's record, not the transfer's checkpoint."""
RECOVERABLE_STATES = frozenset({"requested", "held", "briefing", "merged"})
"""The checkpoints the engine writes; it clears them when a transfer ends (a merged call
keeps `merged` until one side hangs up, then the room is deleted)."""
MAX_DISPATCHES = 3
"""Dispatches for one transfer at most: a worker that dies on every job is not fed forever."""

Why = Literal["no_checkpoint", "agent_present", "handled", "gave_up", "other_watchdog"]


@dataclass(frozen=True, slots=True)
class Claim:
    """A watchdog's claim of one loss, written on the caller before it dispatches."""

    transfer_id: str
    generation: int
    loss: str
    """The agent that left (`identity#sid`), or `sweep-N` for a loss a sweep found."""
    watchdog: str

    def render(self) -> str:
        fields = {"t": self.transfer_id, "g": self.generation, "l": self.loss, "w": self.watchdog}
        return json.dumps(fields, separators=(",", ":"))

    @staticmethod
    def parse(value: str) -> Claim | None:
        """The claim an attribute value holds, or None (absent, or not written by us)."""
        try:
            fields = json.loads(value) if value else None
            if not isinstance(fields, dict):
                return None
            claim = Claim(str(fields["t"]), int(fields["g"]), str(fields["l"]), str(fields["w"]))
        except (ValueError, KeyError, TypeError):
            return None
        return claim


@dataclass(frozen=True, slots=True)
class Loss:
    """A loss to recover: dispatch the agent to `room` (after winning `claim`)."""

    room: str
    caller: str
    state: str
    departed: str
    """The identity of the agent that left ("" when a sweep found the loss)."""
    claim: Claim


@dataclass(frozen=True, slots=True)
class Skip:
    why: Why


def checkpointed_caller(participants: Sequence[Participant]) -> Participant | None:
    """The caller whose checkpoint a replacement job would recover, if any: a SIP
    participant (the phone leg), never an agent or a browser participant that carries the
    same attributes."""
    for p in participants:
        if p.kind != "sip":
            continue  # only a phone leg is a caller; anyone may write attributes on theirs
        if is_supervisor_leg(p.attributes):
            continue  # a supervisor leg names its transfer too; it is not the caller
        if holder(p) and p.attributes.get(STATE) in RECOVERABLE_STATES:
            return p
    return None


def assess(
    room: str,
    participants: Sequence[Participant],
    departed: str | None,
    watchdog: str,
    *,
    sid: str = "",
) -> Loss | Skip:
    """Whether the room holds a loss, and its claim by `watchdog`.

    `departed` is the agent a webhook said left (it may still be listed for a moment), or
    None for a sweep; `sid` its participant sid, which tells two departures of one identity
    apart (an agent that reconnected, then was lost)."""
    caller = checkpointed_caller(participants)
    if caller is None:
        return Skip("no_checkpoint")
    if any(p.kind == "agent" and p.identity != departed for p in participants):
        return Skip("agent_present")
    transfer_id = holder(caller)
    claimed = Claim.parse(caller.attributes.get(CLAIM_KEY, ""))
    generation = 0
    if claimed is not None and claimed.transfer_id == transfer_id:
        generation = claimed.generation
    if departed is None:
        loss = f"sweep-{generation + 1}"
    else:
        loss = f"{departed}#{sid}" if sid else departed
        if claimed is not None and generation and claimed.loss == loss:
            return Skip("handled")
    if generation >= MAX_DISPATCHES:
        return Skip("gave_up")
    claim = Claim(transfer_id, generation + 1, loss, watchdog)
    state = caller.attributes.get(STATE, "")
    return Loss(room, caller.identity, state, departed or "", claim)


def confirm(loss: Loss, participants: Sequence[Participant]) -> Loss | Skip:
    """After the claim had time to land: go on only if it is still ours, the caller still
    carries the same checkpoint, and no agent came meanwhile (the one that left included:
    an agent that reconnects leaves and joins again under its identity)."""
    caller = checkpointed_caller(participants)
    if caller is None or holder(caller) != loss.claim.transfer_id:
        return Skip("no_checkpoint")
    if any(p.kind == "agent" for p in participants):  # by now, the one that left is back
        return Skip("agent_present")
    if Claim.parse(caller.attributes.get(CLAIM_KEY, "")) != loss.claim:
        return Skip("other_watchdog")
    return loss


def metadata_for(dispatches: Sequence[Dispatch], agent_name: str, departed: str) -> str:
    """The job metadata the lost agent was dispatched with (its dispatch names its job's
    identity), else that of the last dispatch of `agent_name`, else none."""
    named = [d for d in dispatches if d.agent_name == agent_name]
    for dispatch in named:
        if departed in dispatch.identities:
            return dispatch.metadata
    return named[-1].metadata if named else ""


def stale_claims(participants: Sequence[Participant]) -> list[str]:
    """Who carries a claim whose checkpoint is gone (recovered, or another transfer since)."""
    return [
        p.identity
        for p in participants
        if CLAIM_KEY in p.attributes
        and (claim := Claim.parse(p.attributes[CLAIM_KEY])) is not None
        and (claim.transfer_id != holder(p) or checkpointed_caller([p]) is None)
    ]
