"""The worker's exports (`orchestrator.agents.telemetry`, as examples/warm_transfer_agent.py
sets them up from its environment): OTLP/HTTP to a receiver, and a Prometheus endpoint with
the names docs/telemetry.md lists. In a child process: OpenTelemetry's global providers can
be set only once per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from orchestrator.agents.telemetry import prometheus_port
from orchestrator.errors import TransferError
from tests.engine.conftest import ROOT

CHILD = """
import asyncio, json, sys, urllib.request
from opentelemetry import trace
from orchestrator import load_flow
from orchestrator.agents.telemetry import setup_telemetry
from orchestrator.clock import ManualClock
from orchestrator.sandbox import Scenario
from orchestrator.simulate import simulate

async def main():
    telemetry = setup_telemetry()
    assert setup_telemetry() is telemetry
    scenario = Scenario.model_validate({"phones": {"default": {"answer": 2.0}}})
    with trace.get_tracer("worker").start_as_current_span("function_tool"):
        outcome = (await simulate(load_flow(sys.argv[1]), scenario, clock=ManualClock())).outcome
    await telemetry.flush()
    url = f"http://127.0.0.1:{telemetry.prometheus_port}/metrics"
    text = urllib.request.urlopen(url).read().decode()
    print(json.dumps({"outcome": outcome.kind, "metrics": text}))

asyncio.run(main())
"""


class _Receiver(BaseHTTPRequestHandler):
    bodies: dict[str, list[bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.bodies.setdefault(self.path, []).append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def otlp() -> Iterator[tuple[str, dict[str, list[bytes]]]]:
    bodies: dict[str, list[bytes]] = {}
    handler = type("Receiver", (_Receiver,), {"bodies": bodies})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", bodies
    finally:
        server.shutdown()
        server.server_close()


def test_the_worker_exports_spans_over_otlp_and_metrics_for_prometheus(
    otlp: tuple[str, dict[str, list[bytes]]],
) -> None:
    endpoint, bodies = otlp
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_SERVICE_NAME": "test-worker",
        "WARM_TRANSFER_PROMETHEUS_PORT": "0",
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT / "flows" / "warm_transfer.yaml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["outcome"] == "merged"
    text = result["metrics"]
    assert "warm_transfer_started_total" in text
    assert 'outcome="merged"' in text
    for name in (
        "warm_transfer_finished_total",
        "warm_transfer_active",
        "warm_transfer_supervisor_answer_duration_seconds_count",
        "warm_transfer_hold_duration_seconds_count",
        "warm_transfer_attempts_count",
        "warm_transfer_brief_duration_seconds_count",
        "rpc_client_duration_seconds_count",
    ):
        assert f"\n{name}{{" in text, name

    names = []
    services = set()
    for body in bodies.get("/v1/traces", []):
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            for attribute in resource.resource.attributes:
                if attribute.key == "service.name":
                    services.add(attribute.value.string_value)
            for scope in resource.scope_spans:
                names += [span.name for span in scope.spans]
    assert services == {"test-worker"}
    assert {"function_tool", "warm_transfer", "step dial_supervisor"} <= set(names)
    assert "dial on_call_supervisor" in names
    exported = {
        metric.name
        for body in bodies.get("/v1/metrics", [])
        for resource in ExportMetricsServiceRequest.FromString(body).resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert {"warm_transfer.started", "warm_transfer.finished", "rpc.client.duration"} <= exported


@pytest.mark.parametrize("text", ["http", "-1", "65536", "80 "])
def test_a_bad_prometheus_port_is_named(text: str) -> None:
    with pytest.raises(TransferError, match="WARM_TRANSFER_PROMETHEUS_PORT") as raised:
        prometheus_port({"WARM_TRANSFER_PROMETHEUS_PORT": text})
    assert raised.value.reason == "config_error"


def test_no_prometheus_port_means_no_endpoint() -> None:
    assert prometheus_port({}) is None
    assert prometheus_port({"WARM_TRANSFER_PROMETHEUS_PORT": "0"}) == 0
