"""The runtime: drives compiled flows against LiveKit, one `Transfer` per caller."""

from orchestrator.engine.engine import TransferEngine
from orchestrator.engine.outcome import Attempt, TransferOutcome
from orchestrator.engine.ports import Media
from orchestrator.engine.transfer import Transfer

__all__ = ["Attempt", "Media", "Transfer", "TransferEngine", "TransferOutcome"]
