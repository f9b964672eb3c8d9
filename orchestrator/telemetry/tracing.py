"""The spans of one transfer, built from its log events.

`warm_transfer` is started by `transfer.started` as a child of the span current in the
transfer's task (which copied the context of the call that started the transfer: a worker's
`function_tool` span). A `step` span per visit, a `dial` span per attempt, a `livekit.*` span
per API call, each a child of the innermost of them open when its event arrives. A dial's
target name and result are logged only with `transfer.finished` (`dials`): its span is
named and ended then, with the time its answer (or refusal) came.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

__all__ = [
    "TransferTrace",
    "api_call_span",
    "end_transfer",
    "rpc_attributes",
    "transfer_attributes",
]


class _Dial:
    __slots__ = ("answered_ns", "sip_status", "span")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.answered_ns: int | None = None  # when CreateSIPParticipant came back
        self.sip_status: int | None = None


class TransferTrace:
    """The open spans of one transfer."""

    def __init__(self, tracer: Tracer, event: dict[str, Any]) -> None:
        self._tracer = tracer
        self.root = tracer.start_span("warm_transfer", attributes=transfer_attributes(event))
        self._root_context = trace.set_span_in_context(self.root)
        self._step: Span | None = None
        self._step_context: Context | None = None
        self._dials: list[_Dial] = []

    def parent(self) -> Context:
        """Where a LiveKit API call belongs now: its dial ringing, else its step."""
        if self._dials and self._dials[-1].answered_ns is None:
            return trace.set_span_in_context(self._dials[-1].span)
        return self._step_context or self._root_context

    def transition(self, event: dict[str, Any]) -> None:
        self._end_step(str(event.get("trigger") or ""))
        step_type = str(event.get("step_type") or "")
        if not step_type:  # not a step (the machine's own states)
            return
        name = str(event.get("to_state") or "")
        self._step = self._tracer.start_span(
            f"step {name}",
            context=self._root_context,
            attributes={"transfer.step": name, "transfer.step.type": step_type},
        )
        self._step_context = trace.set_span_in_context(self._step)

    def _end_step(self, outcome: str) -> None:
        if self._step is not None:
            if outcome:
                self._step.set_attribute("transfer.step.outcome", outcome)
            self._step.end()
            self._step, self._step_context = None, None

    def dial_requested(self) -> None:
        self._answered(time.time_ns(), None)  # a redial: the last one's answer was lost
        context = self._step_context or self._root_context
        self._dials.append(_Dial(self._tracer.start_span("dial", context=context)))

    def api_call(self, event: dict[str, Any]) -> None:
        now = time.time_ns()
        api_call_span(self._tracer, event, self.parent(), now)
        if event.get("rpc") == "SIP.CreateSIPParticipant":
            status = event.get("sip_status_code")
            self._answered(now, status if isinstance(status, int) else None)

    def _answered(self, now: int, status: int | None) -> None:
        if self._dials and self._dials[-1].answered_ns is None:
            self._dials[-1].answered_ns, self._dials[-1].sip_status = now, status

    def finished(self, event: dict[str, Any]) -> None:
        self._end_step("")
        logged = event.get("dials")
        records = [d for d in logged if isinstance(d, dict)] if isinstance(logged, list) else []
        for index, dial in enumerate(self._dials):
            record: dict[str, Any] = records[index] if index < len(records) else {}
            target = str(record.get("target") or "")
            if target:
                dial.span.update_name(f"dial {target}")
                dial.span.set_attribute("transfer.target", target)
            if record.get("caller_id"):
                dial.span.set_attribute("transfer.caller_id", str(record["caller_id"]))
            status = record.get("sip_status_code")
            status = status if isinstance(status, int) else dial.sip_status
            if status is not None:
                dial.span.set_attribute("sip.status_code", status)
            dial.span.set_attribute("transfer.attempt.result", str(record.get("result") or ""))
            dial.span.end(end_time=dial.answered_ns)
        end_transfer(self.root, event)


def transfer_attributes(event: dict[str, Any]) -> dict[str, str]:
    attributes = {
        "transfer.id": str(event.get("transfer_id") or ""),
        "transfer.flow": str(event.get("flow") or ""),
    }
    if event.get("flow_version"):
        attributes["transfer.flow_version"] = str(event["flow_version"])
    return attributes


def end_transfer(span: Span, event: dict[str, Any]) -> None:
    outcome = str(event.get("outcome") or "")
    span.set_attribute("transfer.outcome", outcome)
    span.set_attribute("transfer.reason", str(event.get("reason") or ""))
    attempts = event.get("attempts")
    if isinstance(attempts, int):
        span.set_attribute("transfer.attempts", attempts)
    held = event.get("hold_seconds")
    if isinstance(held, int | float):
        span.set_attribute("transfer.hold_seconds", float(held))
    if outcome == "failed":
        span.set_status(Status(StatusCode.ERROR, str(event.get("reason") or "failed")))
    span.end()


def api_call_span(tracer: Tracer, event: dict[str, Any], parent: Context | None, now: int) -> None:
    """A `livekit.request` event as the CLIENT span of the call it timed (it ends now)."""
    attributes = rpc_attributes(event)
    duration = event.get("duration_ms")
    took = int(float(duration) * 1_000_000) if isinstance(duration, int | float) else 0
    span = tracer.start_span(
        f"{attributes['rpc.service']}/{attributes['rpc.method']}",
        context=parent,
        kind=SpanKind.CLIENT,
        start_time=now - took,
        attributes=attributes,
    )
    status = event.get("sip_status_code")
    if isinstance(status, int):
        span.set_attribute("sip.status_code", status)
    code = attributes["rpc.response.status_code"]
    if code != "ok":
        span.set_status(Status(StatusCode.ERROR, code))
    span.end(end_time=now)


def rpc_attributes(event: dict[str, Any]) -> dict[str, str]:
    """OTel's RPC attributes of a `livekit.request` event (`rpc` is `Service.Method`)."""
    service, _, method = str(event.get("rpc") or "").partition(".")
    return {
        "rpc.system": "twirp",
        "rpc.service": f"livekit.{service}",
        "rpc.method": method,
        "rpc.response.status_code": (
            "ok" if event.get("ok") else str(event.get("error_code") or "unknown")
        ),
    }
