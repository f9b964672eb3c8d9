"""The transfer metrics, through the OpenTelemetry metrics API (docs/telemetry.md has the
table with the Prometheus names)."""

from __future__ import annotations

from typing import Any

from opentelemetry.metrics import MeterProvider

from orchestrator.telemetry.scope import SCOPE, VERSION

__all__ = ["Instruments"]

# Buckets for seconds a person waits (a ring, a hold, a brief) and for API calls.
_PERSON_S = [0.5, 1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600]
_RPC_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]


class Instruments:
    """The instruments of one meter provider."""

    def __init__(self, provider: MeterProvider) -> None:
        meter = provider.get_meter(SCOPE, VERSION)
        self.started = meter.create_counter(
            "warm_transfer.started", unit="{transfer}", description="Transfers started."
        )
        self.finished = meter.create_counter(
            "warm_transfer.finished",
            unit="{transfer}",
            description="Transfers finished, by outcome, reason and flow.",
        )
        self.active = meter.create_up_down_counter(
            "warm_transfer.active", unit="{transfer}", description="Transfers in flight."
        )
        self.supervisor_answer = meter.create_histogram(
            "warm_transfer.supervisor_answer.duration",
            unit="s",
            description="From the transfer's start to the answer of a supervisor then briefed "
            "or merged.",
            explicit_bucket_boundaries_advisory=_PERSON_S,
        )
        self.hold = meter.create_histogram(
            "warm_transfer.hold.duration",
            unit="s",
            description="Seconds the caller was held, by outcome.",
            explicit_bucket_boundaries_advisory=_PERSON_S,
        )
        self.attempts = meter.create_histogram(
            "warm_transfer.attempts",
            unit="{attempt}",
            description="Dial attempts per transfer.",
            explicit_bucket_boundaries_advisory=[0, 1, 2, 3, 4, 5, 6, 8, 10],
        )
        self.brief = meter.create_histogram(
            "warm_transfer.brief.duration",
            unit="s",
            description="Seconds in a brief step (the supervisor hearing the brief, deciding).",
            explicit_bucket_boundaries_advisory=_PERSON_S,
        )
        self.lost = meter.create_counter(
            "warm_transfer.callers_lost_on_hold",
            unit="{caller}",
            description="Callers who hung up while held.",
        )
        self.rpc = meter.create_histogram(
            "rpc.client.duration",
            unit="s",
            description="LiveKit API calls, by method and Twirp code.",
            explicit_bucket_boundaries_advisory=_RPC_S,
        )

    def finished_transfer(self, event: dict[str, Any], counted_start: bool) -> None:
        outcome = str(event.get("outcome") or "")
        self.finished.add(
            1,
            {
                "outcome": outcome,
                "reason": str(event.get("reason") or ""),
                "flow": str(event.get("flow") or ""),
            },
        )
        if counted_start:
            self.active.add(-1)
        held = event.get("hold_seconds")
        if isinstance(held, int | float):
            self.hold.record(float(held), {"outcome": outcome})
        attempts = event.get("attempts")
        if isinstance(attempts, int):
            self.attempts.record(attempts)
        if outcome == "caller_hung_up" and isinstance(held, int | float) and held > 0:
            self.lost.add(1)  # as `orchestrator report` counts them
