"""`orchestrator.timeline`: log events in a designer's words, one line each."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.timeline import Stream, describe, render


def api_call(rpc: str, **fields: Any) -> dict[str, Any]:
    return {"event": "livekit.request", "rpc": rpc, "duration_ms": 3, "ok": True, **fields}


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            {
                "event": "dial.result",
                "target": "primary",
                "result": "busy",
                "sip_status_code": 486,
                "seconds": 0.5,
            },
            "primary: busy (SIP 486)",
        ),
        (
            {"event": "dial.group", "targets": ["alice", "bob", "carol"], "ring_seconds": 20.0},
            "ringing alice, bob and carol together for up to 20 s; the first to answer is kept",
        ),
        (
            {"event": "dial.result", "target": "bob", "result": "another_answered"},
            "bob: cancelled, another phone of the group answered first",
        ),
        (
            {
                "event": "dial.result",
                "target": "backup",
                "result": "no_answer",
                "sip_status_code": None,
                "seconds": 20.0,
            },
            "backup: no answer after 20 s",
        ),
        (
            {
                "event": "dial.result",
                "target": "team_lead",
                "result": "declined",
                "sip_status_code": 603,
                "seconds": 0.5,
            },
            "team_lead: declined (SIP 603)",
        ),
        (
            {
                "event": "dial.result",
                "target": "primary",
                "result": "answered",
                "seconds": 2.25,
            },
            "primary answered after 2.2 s",
        ),
        (
            {
                "event": "dial.request",
                "target": "backup",
                "caller_id_kind": "caller",
                "caller_id": "+1415***2671",
                "ring": 20,
            },
            "dialling backup, showing the caller's number +1415***2671, ringing up to 20 s",
        ),
        (
            {
                "event": "dial.request",
                "target": "backup",
                "caller_id_kind": "business",
                "caller_id": "+1800***0100",
                "ring": 30,
            },
            "dialling backup, showing the business number +1800***0100, ringing up to 30 s",
        ),
        (
            {"event": "simulate.said", "to": "caller", "text": "Please hold."},
            'said to the caller: "Please hold."',
        ),
        (
            {"event": "simulate.said", "to": "supervisor", "target": "primary", "text": "Hi"},
            'said to the supervisor (primary): "Hi"',
        ),
        (
            {
                "event": "transfer.transition",
                "from_state": "hold_caller",
                "to_state": "dial_supervisors",
                "trigger": "held",
            },
            "step dial_supervisors  (hold_caller: held)",
        ),
        (
            {
                "event": "transfer.transition",
                "from_state": "requested",
                "to_state": "hold_caller",
                "trigger": "start",
            },
            "step hold_caller",
        ),
        (
            {
                "event": "transfer.finished",
                "outcome": "returned",
                "reason": "no_answer",
                "hold_seconds": 41.0,
                "time_to_supervisor_seconds": None,
                "attempts": 2,
            },
            "outcome: returned (no_answer), caller on hold 41 s, 2 attempts",
        ),
        (
            {"event": "simulate.media", "action": "start_hold", "music": "jazz.mp3"},
            "caller on hold (music: jazz.mp3)",
        ),
    ],
)
def test_events_read_in_the_flows_language(event: dict[str, Any], line: str) -> None:
    assert describe(event) == line


def test_api_calls_are_hidden_unless_asked_for() -> None:
    call = api_call(
        "SIP.CreateSIPParticipant", ok=False, error_code="resource_exhausted", sip_status_code=486
    )
    assert describe(call) is None
    assert describe(call, api=True) == (
        "LiveKit API  SIP.CreateSIPParticipant resource_exhausted (SIP 486) 3 ms"
    )
    assert describe({"event": "dial.request", "to": "+1510***0100"}) is None


def test_render_stamps_simulated_time_and_labels_the_probe() -> None:
    events = [
        {**api_call("RoomService.ListParticipants"), "transfer_id": "t1", "at": 0},
        {
            **api_call("RoomService.MoveParticipant", ok=False, error_code="not_found"),
            "transfer_id": "t1",
            "at": 0,
        },
        {
            "event": "transfer.started",
            "transfer_id": "t1",
            "caller": "+1415***2671",
            "flow": "f",
            "at": 0.0,
        },
        {**api_call("RoomService.MoveParticipant"), "transfer_id": "t1", "at": 12.5},
    ]
    assert render(events) == ["    0.00s  transfer started for caller +1415***2671 (flow f)"]
    lines = render(events, api=True)
    assert lines[0] == "    0.00s  LiveKit API  RoomService.ListParticipants ok 3 ms"
    assert lines[1].startswith(
        "    0.00s  LiveKit API  RoomService.MoveParticipant not_found 3 ms"
    )
    assert "(capability probe:" in lines[1]
    assert lines[3] == "   12.50s  LiveKit API  RoomService.MoveParticipant ok 3 ms"


def test_stream_renders_one_event_at_a_time_like_render() -> None:
    events = [
        {"event": "simulate.said", "to": "caller", "text": "Hold on.", "at": 1},
        {"event": "transfer.event_ignored", "trigger": "dtmf", "at": 2},
        {"event": "transfer.step_failed", "level": "warning", "step": "a", "error": "X"},
    ]
    stream = Stream()
    streamed = [line for e in events if (line := stream.line(e)) is not None]
    assert streamed == render(events)
    assert streamed[1] == "           warning: transfer.step_failed step=a error=X"


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"event": "dial.result", "seconds": "soon", "result": None},
        {"event": "dial.request", "target": "a", "ring": "x"},
        {"event": "transfer.finished", "hold_seconds": "?", "attempts": "two"},
        {"event": "livekit.request"},
        {"event": 3, "at": "noon"},
    ],
)
def test_odd_events_from_other_logs_never_raise(event: dict[str, Any]) -> None:
    for api in (False, True):
        lines = render([event], api=api)
        assert all(isinstance(line, str) for line in lines)
