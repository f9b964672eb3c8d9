"""Client-side LiveKit adapters: the engine's one way to the LiveKit server API. Only these
modules import `livekit.api`; the engine sees `Dial`, `Participant` and `LiveKitError`."""

from orchestrator.livekit.gateway import (
    DIAL_MARGIN_S,
    REQUEST_TIMEOUT_S,
    Gateway,
    classify_dial_error,
)
from orchestrator.livekit.messages import Dial, Participant

__all__ = [
    "DIAL_MARGIN_S",
    "REQUEST_TIMEOUT_S",
    "Dial",
    "Gateway",
    "Participant",
    "classify_dial_error",
]
