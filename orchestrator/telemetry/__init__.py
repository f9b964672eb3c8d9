"""OpenTelemetry spans and metrics for every transfer, from the engine's log events
(docs/telemetry.md). Only `opentelemetry-api` is used; nothing is done while no tracer or
meter provider is set."""

from orchestrator.telemetry.events import TelemetryLogger, get_logger, use_providers

__all__ = ["TelemetryLogger", "get_logger", "use_providers"]
