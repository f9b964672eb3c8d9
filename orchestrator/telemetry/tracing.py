"""The spans of one transfer, built from its log events.

`warm_transfer` is started by `transfer.started` as a child of the span current in the
transfer's task (which copied the context of the call that started the transfer: a worker's
`function_tool` span). A `step` span per visit, a `dial` span per attempt, a `livekit.*` span
per API call, each a child of the innermost of them open when its event arrives. A dial span
is named and given its target at `dial.request` and ends at its `dial.result` (an answer: at
the end of its step, as screening may yet find a voicemail), with the time its answer (or
refusal) came. Logs without those events' fields are named from `transfer.finished`.
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
    __slots__ = ("answered_ns", "attempt", "ended", "group", "result", "sip_status", "span")

    def __init__(self, span: Span, attempt: object, group: bool = False) -> None:
        self.span = span
        self.attempt = attempt  # its `attempt` number as logged (None from older logs)
        self.group = group  # rung with others at once: its own `dial.result` ends it
        self.answered_ns: int | None = None  # when CreateSIPParticipant came back
        self.sip_status: int | None = None
        self.result: str | None = None  # from its `dial.result`; the span ends with it
        self.ended = False


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
        # A ring group's answers are told apart by their own `dial.result` only.
        if self._dials and self._dials[-1].answered_ns is None and not self._dials[-1].group:
            return trace.set_span_in_context(self._dials[-1].span)
        return self._step_context or self._root_context

    def transition(self, event: dict[str, Any]) -> None:
        self._end_dials()  # the step's results are final when it ends
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

    def dial_requested(self, event: dict[str, Any]) -> None:
        now = time.time_ns()
        if not event.get("group"):  # a ring group's phones are all dialled at once
            self._answered(now, None)  # a redial: the last one's answer was lost
            self._end_dials()  # an answer still open is final once the next dial leaves
        context = self._step_context or self._root_context
        target = str(event.get("target") or "")
        attributes = {"transfer.target": target} if target else {}
        if event.get("caller_id_kind"):
            attributes["transfer.caller_id"] = str(event["caller_id_kind"])
        span = self._tracer.start_span(
            f"dial {target}" if target else "dial", context=context, attributes=attributes
        )
        self._dials.append(_Dial(span, event.get("attempt"), bool(event.get("group"))))

    def dial_result(self, event: dict[str, Any]) -> None:
        """An attempt ended: its span ends, but for an answer (screening may yet find a
        voicemail: a second `dial.result`), which ends with the dial's step."""
        attempt = event.get("attempt")
        dial = next((d for d in reversed(self._dials) if d.attempt == attempt), None)
        if dial is None or dial.ended:
            return
        now = time.time_ns()
        if dial.answered_ns is None:  # cancelled while ringing
            dial.answered_ns = now
        dial.result = str(event.get("result") or "")
        status = event.get("sip_status_code")
        if isinstance(status, int):
            dial.sip_status = status
        if dial.result != "answered":
            self._end_dial(dial)

    def api_call(self, event: dict[str, Any]) -> None:
        now = time.time_ns()
        api_call_span(self._tracer, event, self.parent(), now)
        if event.get("rpc") == "SIP.CreateSIPParticipant":
            status = event.get("sip_status_code")
            self._answered(now, status if isinstance(status, int) else None)

    def _answered(self, now: int, status: int | None) -> None:
        if self._dials and self._dials[-1].answered_ns is None:
            self._dials[-1].answered_ns, self._dials[-1].sip_status = now, status

    def _end_dial(self, dial: _Dial) -> None:
        if dial.sip_status is not None:
            dial.span.set_attribute("sip.status_code", dial.sip_status)
        dial.span.set_attribute("transfer.attempt.result", dial.result or "")
        dial.span.end(end_time=dial.answered_ns)
        dial.ended = True

    def _end_dials(self) -> None:
        """End the dials whose result is known (answers: nothing changes them any more)."""
        for dial in self._dials:
            if dial.result is not None and not dial.ended:
                self._end_dial(dial)

    def finished(self, event: dict[str, Any]) -> None:
        self._end_step("")
        # A dial without its `dial.result` (a log from before it, or a step cancelled
        # mid-reconciliation): named and ended from `transfer.finished`'s `dials`.
        logged = event.get("dials")
        records = [d for d in logged if isinstance(d, dict)] if isinstance(logged, list) else []
        for index, dial in enumerate(self._dials):
            if dial.ended:
                continue
            record: dict[str, Any] = records[index] if index < len(records) else {}
            target = str(record.get("target") or "")
            if target and dial.result is None:
                dial.span.update_name(f"dial {target}")
                dial.span.set_attribute("transfer.target", target)
                if record.get("caller_id"):
                    dial.span.set_attribute("transfer.caller_id", str(record["caller_id"]))
            status = record.get("sip_status_code")
            if dial.result is None and isinstance(status, int):
                dial.sip_status = status
            if dial.result is None:
                dial.result = str(record.get("result") or "")
            self._end_dial(dial)
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
