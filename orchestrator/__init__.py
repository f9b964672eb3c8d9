"""Warm call transfers on LiveKit, as designer-owned YAML flows run by a state machine."""

from importlib.metadata import PackageNotFoundError, version

from orchestrator.errors import FlowError, OrchestratorError, Problem
from orchestrator.flow import Flow, compile_flow, load_flow

__all__ = [
    "Flow",
    "FlowError",
    "OrchestratorError",
    "Problem",
    "__version__",
    "compile_flow",
    "load_flow",
]

try:
    __version__ = version("livekit-warm-transfer")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
