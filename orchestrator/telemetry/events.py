"""The engine's logger, which also hands each event to the telemetry observer.

`get_logger(name, clock=...)` wraps `structlog.get_logger(name)`: every call logs exactly as
before (whatever structlog configuration the host has: the library configures none), then,
only when an OpenTelemetry tracer or meter provider is set, gives the event (its bound values
and fields, masked as log lines are) to the `Observer`, in the task that logged it. With no
provider set, the cost is two look-ups per event.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import structlog
from opentelemetry import metrics, trace
from opentelemetry.metrics import MeterProvider, NoOpMeterProvider, _internal as _metrics_internal
from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider, TracerProvider

from orchestrator.clock import Clock
from orchestrator.logs import mask_phone_numbers
from orchestrator.telemetry.observer import Observer

__all__ = ["TelemetryLogger", "get_logger", "observer", "use_providers"]

_UNSET_TRACING = (ProxyTracerProvider, NoOpTracerProvider)
# The API's stand-in until a meter provider is set (private: looked up, not relied on).
_PROXY_METER: type = getattr(_metrics_internal, "_ProxyMeterProvider", NoOpMeterProvider)
_UNSET_METRICS = (_PROXY_METER, NoOpMeterProvider)

_forced: Observer | None = None
_global: Observer | None = None


def observer() -> Observer | None:
    """The observer for the providers set now; None when neither is (nothing to do)."""
    global _global
    if _forced is not None:
        return _forced
    tracing: TracerProvider | None = trace.get_tracer_provider()
    metering: MeterProvider | None = metrics.get_meter_provider()
    if isinstance(tracing, _UNSET_TRACING):
        tracing = None
    if isinstance(metering, _UNSET_METRICS):
        metering = None
    if tracing is None and metering is None:
        return None
    if _global is None or _global.providers != (tracing, metering):
        _global = Observer(tracing, metering)
    return _global


@contextlib.contextmanager
def use_providers(
    tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
) -> Iterator[Observer]:
    """Send the library's spans and metrics to these providers, not the global ones, while
    open (tests, benchmarks: OpenTelemetry's global providers can be set only once)."""
    global _forced
    before, _forced = _forced, Observer(tracer_provider, meter_provider)
    try:
        yield _forced
    finally:
        _forced = before


class TelemetryLogger:
    """A structlog logger whose events are also observed (see the module's docstring)."""

    __slots__ = ("_clock", "_context", "_logger")

    def __init__(self, logger: Any, context: dict[str, Any], clock: Clock | None) -> None:
        self._logger, self._context, self._clock = logger, context, clock

    def bind(self, **values: Any) -> TelemetryLogger:
        return TelemetryLogger(
            self._logger.bind(**values), {**self._context, **values}, self._clock
        )

    def new(self, **values: Any) -> TelemetryLogger:
        return TelemetryLogger(self._logger.new(**values), dict(values), self._clock)

    def unbind(self, *keys: str) -> TelemetryLogger:
        context = {k: v for k, v in self._context.items() if k not in keys}
        return TelemetryLogger(self._logger.unbind(*keys), context, self._clock)

    def debug(self, event: str, *args: Any, **fields: Any) -> Any:
        result = self._logger.debug(event, *args, **fields)
        self._observe(event, fields)
        return result

    def info(self, event: str, *args: Any, **fields: Any) -> Any:
        result = self._logger.info(event, *args, **fields)
        self._observe(event, fields)
        return result

    def warning(self, event: str, *args: Any, **fields: Any) -> Any:
        result = self._logger.warning(event, *args, **fields)
        self._observe(event, fields)
        return result

    warn = warning

    def error(self, event: str, *args: Any, **fields: Any) -> Any:
        result = self._logger.error(event, *args, **fields)
        self._observe(event, fields)
        return result

    def exception(self, event: str, *args: Any, **fields: Any) -> Any:
        result = self._logger.exception(event, *args, **fields)
        self._observe(event, fields)
        return result

    def critical(self, event: str, *args: Any, **fields: Any) -> Any:
        result = self._logger.critical(event, *args, **fields)
        self._observe(event, fields)
        return result

    def _observe(self, event: str, fields: dict[str, Any]) -> None:
        seen = observer()
        if seen is None:
            return
        masked = dict(mask_phone_numbers(None, "", {**self._context, **fields, "event": event}))
        try:
            seen.handle(masked, self._clock.now() if self._clock else time.monotonic())
        except Exception as error:  # telemetry must never change what a transfer does
            self._logger.warning("telemetry.failed", error=type(error).__name__, of=event)


def get_logger(name: str, *, clock: Clock | None = None) -> TelemetryLogger:
    """`structlog.get_logger(name)`, observed; `clock` times the durations of people (the
    engine's clock: simulated in simulations and tests)."""
    return TelemetryLogger(structlog.get_logger(name), {}, clock)
