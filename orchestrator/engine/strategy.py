"""Which merge strategy a flow gets on this server, settled before the caller is held.

A missing grant or method is never found out at the dial or the merge, with the caller
waiting: the start refuses instead, naming the grant or the flow setting to change.
"""

from __future__ import annotations

from typing import Any, Literal

from orchestrator.errors import TransferError
from orchestrator.flow.model import Flow
from orchestrator.livekit.probe import Capabilities

__all__ = ["Strategy", "choose"]

Strategy = Literal["move", "in_room"]


def choose(flow: Flow, can: Capabilities, log: Any) -> Strategy:
    """`move` when the server and the key allow it and the flow does not say `in_room`."""
    kinds = {step.type for step in flow.steps.values()}
    if kinds & {"dial", "cold_transfer"} and "sip.call" in can.missing:
        raise _lacks("sip.call", "to dial supervisors and transfer calls")
    strategy: Strategy = "move"
    if "merge" in kinds and (flow.merge_strategy == "in_room" or not can.move):
        if flow.merge_strategy == "move":
            raise TransferError(
                "this LiveKit server does not let the engine use MoveParticipant "
                "(self-hosted LiveKit has none; otherwise the API key lacks roomAdmin): set "
                "merge_strategy: in_room (or auto) in the flow, or use LiveKit Cloud",
                reason="move_unavailable",
            )
        strategy = "in_room"
        if flow.merge_strategy == "auto":
            log.info("transfer.merge_strategy", strategy=strategy, why="no MoveParticipant")
    if strategy == "move" and "dial" in kinds and "roomCreate" in can.missing:
        raise _lacks("roomCreate", "to create the consult room (or use merge_strategy: in_room)")
    return strategy


def _lacks(grant: str, why: str) -> TransferError:
    return TransferError(
        f"the LiveKit API key lacks the {grant} grant, needed {why}: use a key that has it",
        reason="permission",
    )
