"""Warm call transfers on LiveKit, as designer-owned YAML flows run by a state machine."""

from importlib.metadata import PackageNotFoundError, version

from orchestrator.engine import Transfer, TransferEngine, TransferOutcome
from orchestrator.errors import (
    FlowError,
    OrchestratorError,
    Problem,
    TransferError,
    TransferInProgress,
)
from orchestrator.flow import Flow, compile_flow, load_flow
from orchestrator.logs import configure_logging

__all__ = [
    "Flow",
    "FlowError",
    "OrchestratorError",
    "Problem",
    "Transfer",
    "TransferEngine",
    "TransferError",
    "TransferInProgress",
    "TransferOutcome",
    "__version__",
    "compile_flow",
    "configure_logging",
    "load_flow",
]

try:
    __version__ = version("livekit-warm-transfer")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
