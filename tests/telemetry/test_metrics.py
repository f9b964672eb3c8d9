"""The transfer metrics for merged, declined, busy and caller-hung-up-on-hold transfers, and
nothing done while no provider is set."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

from orchestrator import load_flow
from orchestrator.clock import ManualClock
from orchestrator.sandbox import Scenario
from orchestrator.simulate import simulate
from orchestrator.telemetry import events, get_logger, use_providers
from tests.engine.conftest import ROOT
from tests.telemetry.conftest import Recorded, transfer


def _count(recorded: Recorded, name: str, **attributes: str) -> int:
    return sum(
        point.value
        for got, point in recorded.points(name)
        if all(got.get(k) == v for k, v in attributes.items())
    )


def _samples(recorded: Recorded, name: str, **attributes: str) -> list[Any]:
    return [
        point
        for got, point in recorded.points(name)
        if all(got.get(k) == v for k, v in attributes.items())
    ]


async def test_merged_declined_busy_and_lost_on_hold_are_counted(recorded: Recorded) -> None:
    await transfer(recorded, {"phones": {"default": {"answer": 2.0, "decide_after": 1.0}}})
    await transfer(recorded, {"phones": {"default": {"answer": 1.0, "on_brief": "decline"}}})
    await transfer(recorded, {"phones": {"default": {"answer": "busy"}}})
    await transfer(
        recorded,
        {
            "caller": {"hangup_after": 3.0},
            "phones": {"default": {"answer": 1.0, "decide_after": 5.0}},
        },
    )
    assert _count(recorded, "warm_transfer.started") == 4
    assert _count(recorded, "warm_transfer.active") == 0
    finished = {
        (got["outcome"], got["reason"], got["flow"]): point.value
        for got, point in recorded.points("warm_transfer.finished")
    }
    assert finished == {
        ("merged", "", "warm_transfer"): 1,
        ("returned", "declined", "warm_transfer"): 1,
        ("returned", "busy", "warm_transfer"): 1,
        ("caller_hung_up", "", "warm_transfer"): 1,
    }
    assert _count(recorded, "warm_transfer.callers_lost_on_hold") == 1
    (attempts,) = _samples(recorded, "warm_transfer.attempts")
    assert (attempts.count, attempts.sum) == (4, 4)
    # Hold, by outcome: every one of these callers was held.
    for outcome in ("merged", "returned", "caller_hung_up"):
        (held,) = _samples(recorded, "warm_transfer.hold.duration", outcome=outcome)
        assert held.sum > 0
    (lost,) = _samples(recorded, "warm_transfer.hold.duration", outcome="caller_hung_up")
    assert lost.count == 1


async def test_answer_and_brief_durations_are_on_the_engines_clock(recorded: Recorded) -> None:
    # The phone answers 2 s after the dial; the supervisor presses 1 a second into the brief.
    result = await transfer(
        recorded, {"phones": {"default": {"answer": 2.0, "decide_after": 1.0}}}
    )
    assert result.outcome.kind == "merged"
    (answer,) = _samples(recorded, "warm_transfer.supervisor_answer.duration")
    assert answer.count == 1
    dial = result.outcome.attempts[0]
    assert dial.ended_s is not None
    assert dial.ended_s <= answer.sum < result.outcome.time_to_supervisor_seconds  # type: ignore[operator]
    (brief,) = _samples(recorded, "warm_transfer.brief.duration")
    assert brief.count == 1
    assert brief.sum == pytest.approx(1.0, abs=0.5)


async def test_api_call_latency_by_method_and_code(recorded: Recorded) -> None:
    result = await transfer(recorded, {"phones": {"default": {"answer": "busy"}}})
    points = recorded.points("rpc.client.duration")
    calls = sum(point.count for _, point in points)
    assert calls == len(result.requests)
    refused = [
        (got, p)
        for got, p in points
        if got["rpc.method"] == "CreateSIPParticipant" and got["rpc.service"] == "livekit.SIP"
    ]
    assert [got["rpc.response.status_code"] for got, _ in refused] != ["ok"]
    assert all(got["rpc.system"] == "twirp" for got, _ in points)
    assert any(got["rpc.response.status_code"] == "ok" for got, _ in points)


async def test_nothing_is_observed_without_a_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """No global provider set (the default) and none given: no observer, so no event is
    even masked for telemetry; with one, every event is."""
    assert events.observer() is None
    handled: list[str] = []
    monkeypatch.setattr(
        "orchestrator.telemetry.observer.Observer.handle",
        lambda self, event, now: handled.append(event["event"]),
    )
    masked: list[int] = []
    real = events.mask_phone_numbers
    monkeypatch.setattr(events, "mask_phone_numbers", lambda *a: masked.append(1) or real(*a))

    async def one() -> str:
        flow = load_flow(ROOT / "flows" / "warm_transfer.yaml")
        result = await simulate(flow, Scenario.model_validate({}), clock=ManualClock())
        return result.outcome.kind

    assert await one() == "merged"
    assert handled == []
    assert masked == []
    with use_providers(TracerProvider()):
        assert await one() == "merged"
    assert {"transfer.started", "transfer.transition", "livekit.request"} <= set(handled)
    assert len(masked) == len(handled)


def test_a_transfer_that_ends_before_it_starts_is_one_failed_span(recorded: Recorded) -> None:
    """A start whose claim on the caller failed logs only `transfer.finished`."""
    log = get_logger("orchestrator.transfer").bind(transfer_id="abcdefabcdef", flow="f")
    log.info(
        "transfer.finished",
        outcome="failed",
        reason="unavailable",
        hold_seconds=0.0,
        time_to_supervisor_seconds=None,
        attempts=0,
        sip_status_code=None,
        flow_version="",
    )
    (span,) = recorded.finished()
    assert span.name == "warm_transfer"
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {}) == {
        "transfer.id": "abcdefabcdef",
        "transfer.flow": "f",
        "transfer.outcome": "failed",
        "transfer.reason": "unavailable",
        "transfer.attempts": 0,
        "transfer.hold_seconds": 0.0,
    }
    assert _count(recorded, "warm_transfer.finished", outcome="failed") == 1
    assert recorded.points("warm_transfer.active") == []  # never counted as started
    assert _count(recorded, "warm_transfer.callers_lost_on_hold") == 0
