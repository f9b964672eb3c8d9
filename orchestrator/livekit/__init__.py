"""Client-side LiveKit adapters: the only part of the engine that imports `livekit.api`."""

from orchestrator.livekit.gateway import Gateway, classify_dial_error

__all__ = ["Gateway", "classify_dial_error"]
