"""The engine's log events turned into spans and metric updates.

Driven only by the events (their names and fields are a documented contract: DESIGN.md
section 4), never by the engine's objects. Each event arrives in the task that logged it;
`now` is the engine's clock (simulated in tests), used for the durations of people (a
brief, the wait for an answer); spans carry real time.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from orchestrator.telemetry.metrics import Instruments
from orchestrator.telemetry.scope import SCOPE, VERSION
from orchestrator.telemetry.tracing import (
    TransferTrace,
    api_call_span,
    end_transfer,
    rpc_attributes,
    transfer_attributes,
)

__all__ = ["Observer"]

# A transfer whose `transfer.finished` never comes (a bug, a crash mid-cleanup) must not be
# kept for ever: past this many in flight, the oldest is dropped (its spans never end).
_MAX_TRANSFERS = 10_000


class _Transfer:
    __slots__ = ("entered_at", "started_at", "step_type", "trace")

    def __init__(self, started_at: float, spans: TransferTrace | None) -> None:
        self.trace = spans
        self.started_at = started_at
        self.step_type = ""
        self.entered_at = started_at


class Observer:
    """Spans from one tracer provider and metrics from one meter provider (either None:
    not recorded)."""

    def __init__(
        self, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None
    ) -> None:
        self.providers = (tracer_provider, meter_provider)
        self._tracer = tracer_provider.get_tracer(SCOPE, VERSION) if tracer_provider else None
        self._metrics = Instruments(meter_provider) if meter_provider else None
        self._transfers: dict[str, _Transfer] = {}

    def handle(self, event: dict[str, Any], now: float) -> None:
        """One event (masked, with the logger's bound values), logged at `now`."""
        name = event.get("event")
        if name == "livekit.request":
            self._api_call(event)
        elif name == "transfer.transition":
            self._transition(event, now)
        elif name in ("dial.request", "dial.result"):
            found = self._transfers.get(str(event.get("transfer_id") or ""))
            if found is not None and found.trace is not None:
                if name == "dial.request":
                    found.trace.dial_requested(event)
                else:
                    found.trace.dial_result(event)
        elif name == "transfer.started":
            self._started(event, now)
        elif name == "transfer.finished":
            self._finished(event)

    def _started(self, event: dict[str, Any], now: float) -> None:
        spans = TransferTrace(self._tracer, event) if self._tracer else None
        self._transfers[str(event.get("transfer_id") or "")] = _Transfer(now, spans)
        while len(self._transfers) > _MAX_TRANSFERS:
            del self._transfers[next(iter(self._transfers))]
        if self._metrics:
            self._metrics.started.add(1)
            self._metrics.active.add(1)

    def _transition(self, event: dict[str, Any], now: float) -> None:
        found = self._transfers.get(str(event.get("transfer_id") or ""))
        if found is None:
            return
        if self._metrics:
            if found.step_type == "brief":
                self._metrics.brief.record(now - found.entered_at)
            if found.step_type == "dial" and event.get("trigger") == "answered":
                # A person (screening has passed), about to be briefed or merged.
                self._metrics.supervisor_answer.record(now - found.started_at)
        found.step_type = str(event.get("step_type") or "")
        found.entered_at = now
        if found.trace is not None:
            found.trace.transition(event)

    def _api_call(self, event: dict[str, Any]) -> None:
        if self._metrics:
            duration = event.get("duration_ms")
            if isinstance(duration, int | float):
                self._metrics.rpc.record(duration / 1000, rpc_attributes(event))
        if self._tracer is None:
            return
        found = self._transfers.get(str(event.get("transfer_id") or ""))
        if found is not None and found.trace is not None:
            found.trace.api_call(event)
        else:  # before the transfer started (or none): a child of the current span
            api_call_span(self._tracer, event, None, time.time_ns())

    def _finished(self, event: dict[str, Any]) -> None:
        found = self._transfers.pop(str(event.get("transfer_id") or ""), None)
        if self._metrics:
            self._metrics.finished_transfer(event, counted_start=found is not None)
        if self._tracer is None:
            return
        if found is not None and found.trace is not None:
            found.trace.finished(event)
        else:  # ended before it started (its claim failed) or recovered: one short span
            span = self._tracer.start_span("warm_transfer", attributes=transfer_attributes(event))
            end_transfer(span, event)
