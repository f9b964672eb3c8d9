"""Client-side LiveKit adapters: the only part of the engine that imports `livekit.api`."""

from orchestrator.livekit.gateway import DIAL_MARGIN_S, Gateway, classify_dial_error

__all__ = ["DIAL_MARGIN_S", "Gateway", "classify_dial_error"]
