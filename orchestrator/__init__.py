"""Warm call transfers on LiveKit, as designer-owned YAML flows run by a state machine."""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from orchestrator.errors import (
    FlowError,
    OrchestratorError,
    Problem,
    TransferError,
    TransferInProgress,
)
from orchestrator.flow import Flow, compile_flow, load_flow
from orchestrator.logs import configure_logging

if TYPE_CHECKING:
    from orchestrator.engine import Transfer, TransferEngine, TransferOutcome

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

_ENGINE_NAMES = {"Transfer", "TransferEngine", "TransferOutcome"}


def __getattr__(name: str) -> Any:
    # The engine pulls in the LiveKit client (aiohttp, protobuf); `orchestrator validate`
    # does not need it, so it is imported on first use.
    if name in _ENGINE_NAMES:
        return getattr(import_module("orchestrator.engine"), name)
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
