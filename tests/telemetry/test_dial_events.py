"""Dial spans from the engine's attempt events: opened, named and given their target at
`dial.request`, ended at `dial.result` (not at `transfer.finished`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestrator.telemetry.observer import Observer

ID = {"transfer_id": "t-1", "flow": "supervisor_chain"}


@pytest.fixture
def exported() -> Iterator[tuple[Observer, InMemorySpanExporter]]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    yield Observer(provider, None), spans
    provider.shutdown()


def _feed(observer: Observer, *events: dict[str, Any]) -> None:
    for event in events:
        observer.handle({**ID, **event}, 0.0)


def _names(spans: InMemorySpanExporter) -> list[str]:
    return [s.name for s in spans.get_finished_spans()]


def _request(target: str, attempt: int, kind: str = "caller") -> dict[str, Any]:
    return {"event": "dial.request", "target": target, "attempt": attempt, "caller_id_kind": kind}


def _result(target: str, attempt: int, result: str, status: int | None = None) -> dict[str, Any]:
    return {
        "event": "dial.result",
        "target": target,
        "attempt": attempt,
        "result": result,
        "sip_status_code": status,
    }


def _started(observer: Observer) -> None:
    _feed(
        observer,
        {"event": "transfer.started"},
        {
            "event": "transfer.transition",
            "to_state": "dial_supervisors",
            "step_type": "dial",
            "trigger": "held",
        },
    )


def test_a_refused_dial_span_ends_at_its_result_with_its_attributes(
    exported: tuple[Observer, InMemorySpanExporter],
) -> None:
    observer, spans = exported
    _started(observer)
    _feed(observer, _request("primary", 1))
    assert _names(spans) == []
    _feed(observer, _result("primary", 1, "busy", 486))
    (dial,) = spans.get_finished_spans()
    assert dial.name == "dial primary"
    assert dict(dial.attributes or {}) == {
        "transfer.target": "primary",
        "transfer.caller_id": "caller",
        "sip.status_code": 486,
        "transfer.attempt.result": "busy",
    }
    _feed(observer, _request("backup", 2, "business"))
    assert _names(spans) == ["dial primary"]  # the next one is open: ringing


def test_an_answer_stays_open_for_a_voicemail_found_by_screening(
    exported: tuple[Observer, InMemorySpanExporter],
) -> None:
    observer, spans = exported
    _started(observer)
    _feed(observer, _request("primary", 1), _result("primary", 1, "answered"))
    assert _names(spans) == []
    _feed(observer, _result("primary", 1, "voicemail"))
    (dial,) = spans.get_finished_spans()
    assert (dial.attributes or {})["transfer.attempt.result"] == "voicemail"


def test_an_answer_ends_with_its_step(exported: tuple[Observer, InMemorySpanExporter]) -> None:
    observer, spans = exported
    _started(observer)
    _feed(observer, _request("primary", 1), _result("primary", 1, "answered"))
    _feed(
        observer,
        {
            "event": "transfer.transition",
            "to_state": "brief",
            "step_type": "brief",
            "trigger": "answered",
        },
    )
    assert _names(spans) == ["dial primary", "step dial_supervisors"]
    (dial,) = [s for s in spans.get_finished_spans() if s.name == "dial primary"]
    assert (dial.attributes or {})["transfer.attempt.result"] == "answered"
    assert "sip.status_code" not in (dial.attributes or {})


def test_a_ring_groups_dials_are_open_together_and_end_at_their_own_results(
    exported: tuple[Observer, InMemorySpanExporter],
) -> None:
    observer, spans = exported
    _started(observer)
    group = {"group": "dial_supervisors/1"}
    _feed(observer, {**_request("alice", 1), **group}, {**_request("bob", 2), **group})
    assert _names(spans) == []  # both ringing: the second request ends nothing
    rung = time.time_ns()  # neither phone's span ends before its own result
    # Bob's answer comes back first; the CreateSIPParticipant span does not say whose it is.
    _feed(observer, {"event": "livekit.request", "rpc": "SIP.CreateSIPParticipant", "ok": True})
    _feed(observer, _result("bob", 2, "answered"), _result("alice", 1, "another_answered"))
    (alice,) = spans.get_finished_spans()[-1:]
    assert alice.name == "dial alice"
    assert (alice.attributes or {})["transfer.attempt.result"] == "another_answered"
    assert alice.end_time is not None
    assert alice.end_time >= rung
    _feed(
        observer,
        {"event": "transfer.transition", "to_state": "brief", "step_type": "brief"},
    )
    (bob,) = [s for s in spans.get_finished_spans() if s.name == "dial bob"]
    assert (bob.attributes or {})["transfer.attempt.result"] == "answered"
