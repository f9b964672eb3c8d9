"""The runtime: drives compiled flows against LiveKit, one `Transfer` per caller, then the
merged call until one side hangs up."""

from orchestrator.engine.engine import TransferEngine
from orchestrator.engine.merged_call import CallEnd, MergedCall
from orchestrator.engine.outcome import Attempt, TransferOutcome
from orchestrator.engine.ports import Media, RoomEvents
from orchestrator.engine.transfer import Transfer

__all__ = [
    "Attempt",
    "CallEnd",
    "Media",
    "MergedCall",
    "RoomEvents",
    "Transfer",
    "TransferEngine",
    "TransferOutcome",
]
