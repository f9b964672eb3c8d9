"""The livekit-agents worker integration: the only package that imports `livekit.agents`."""

from orchestrator.agents.media import AgentMedia
from orchestrator.agents.speech import consult_token
from orchestrator.agents.warm_transfer import WarmTransfer

__all__ = ["AgentMedia", "WarmTransfer", "consult_token"]
