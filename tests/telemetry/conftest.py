"""Telemetry tests: real transfers on the sandbox (manual clock), with the SDK's in-memory
span exporter and metric reader given to the library by `use_providers`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestrator import load_flow
from orchestrator.clock import ManualClock
from orchestrator.sandbox import Scenario
from orchestrator.simulate import Simulation, simulate
from orchestrator.telemetry import use_providers
from tests.engine.conftest import ROOT


@dataclass
class Recorded:
    provider: TracerProvider
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, data point) of the metric `name`, from the scope "orchestrator"."""
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                if scope.scope.name != "orchestrator":
                    continue
                for metric in scope.metrics:
                    if metric.name == name:
                        found += [(dict(p.attributes or {}), p) for p in metric.data.data_points]
        return found

    def metrics_text(self) -> str:
        data = self.reader.get_metrics_data()
        return data.to_json() if data else ""


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    with use_providers(provider, MeterProvider(metric_readers=[reader])):
        yield Recorded(provider, spans, reader)


async def transfer(
    recorded: Recorded, scenario: dict[str, Any] | None = None, flow: str = "warm_transfer"
) -> Simulation:
    """One transfer started inside a `function_tool` span, as a worker's tool call is."""
    tracer = recorded.provider.get_tracer("test")
    with tracer.start_as_current_span("function_tool"):
        return await simulate(
            load_flow(ROOT / "flows" / f"{flow}.yaml"),
            Scenario.model_validate(scenario or {}),
            clock=ManualClock(),
        )
