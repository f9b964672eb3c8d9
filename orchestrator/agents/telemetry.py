"""OpenTelemetry for an agent worker, from the environment (docs/telemetry.md).

* `OTEL_EXPORTER_OTLP_ENDPOINT` (e.g. http://127.0.0.1:4318): spans and metrics sent over
  OTLP/HTTP; `OTEL_SERVICE_NAME` names the service (default `warm-transfer-worker`).
* `WARM_TRANSFER_PROMETHEUS_PORT` (`WARM_TRANSFER_PROMETHEUS_HOST`, default 127.0.0.1):
  metrics served for Prometheus at http://HOST:PORT/metrics (0: a free port, logged as
  `telemetry.prometheus` with `port`). Needs `opentelemetry-exporter-prometheus`
  (the `telemetry` extra). The endpoint sees the transfers of its own process only: run
  the jobs in the worker's process (`prometheus_jobs_in_threads`).

The tracer provider is also livekit-agents' (its `function_tool` span is then the parent of
`warm_transfer`), with conversation content kept out of exported spans (`allow_pii=False`):
a tool's arguments may quote the caller's number.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping

import structlog
from livekit.agents import telemetry as agents_telemetry
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from orchestrator.errors import TransferError

__all__ = ["Telemetry", "prometheus_port", "setup_telemetry"]

_log = structlog.get_logger("orchestrator.agents")


class Telemetry:
    """The providers set for this process (None: not asked for)."""

    def __init__(self, tracer: TracerProvider | None, meter: MeterProvider | None) -> None:
        self.tracer_provider, self.meter_provider = tracer, meter
        self.prometheus_port: int | None = None

    async def flush(self) -> None:
        """Send what is buffered (a job process ends with its job: call it at shutdown)."""
        for provider in (self.tracer_provider, self.meter_provider):
            if provider is not None:
                await asyncio.to_thread(provider.force_flush)


_current: Telemetry | None = None


def prometheus_port(environ: Mapping[str, str] | None = None) -> int | None:
    """`WARM_TRANSFER_PROMETHEUS_PORT`, checked; None when unset."""
    text = (os.environ if environ is None else environ).get("WARM_TRANSFER_PROMETHEUS_PORT", "")
    if not text:
        return None
    if not text.isdigit() or int(text) > 65535:
        raise TransferError(
            f"WARM_TRANSFER_PROMETHEUS_PORT={text!r} is not a port: set it to a number from "
            "0 (any free port) to 65535, or unset it",
            reason="config_error",
        )
    return int(text)


def setup_telemetry(environ: Mapping[str, str] | None = None) -> Telemetry:
    """Set the global tracer and meter providers as the environment asks, once per process
    (later calls return the first result); nothing when it asks for neither."""
    global _current
    if _current is not None:
        return _current
    env = os.environ if environ is None else environ
    port = prometheus_port(env)
    otlp = bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    if not otlp and port is None:
        _current = Telemetry(None, None)
        return _current
    resource = Resource.create(
        {"service.name": env.get("OTEL_SERVICE_NAME") or "warm-transfer-worker"}
    )
    readers: list[MetricReader] = []
    tracer: TracerProvider | None = None
    if otlp:
        # Imported only when used: they read the standard OTEL_EXPORTER_OTLP_* variables.
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        tracer = TracerProvider(resource=resource)
        tracer.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    served: int | None = None
    if port is not None:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import start_http_server

        readers.append(PrometheusMetricReader())
        host = env.get("WARM_TRANSFER_PROMETHEUS_HOST") or "127.0.0.1"
        server, _ = start_http_server(port, addr=host)
        served = int(server.server_port)
        _log.info("telemetry.prometheus", host=host, port=served)
    meter = MeterProvider(resource=resource, metric_readers=readers)
    metrics.set_meter_provider(meter)
    if tracer is not None:
        trace.set_tracer_provider(tracer)
        agents_telemetry.set_tracer_provider(tracer, allow_pii=False)
    _current = Telemetry(tracer, meter)
    _current.prometheus_port = served
    return _current
