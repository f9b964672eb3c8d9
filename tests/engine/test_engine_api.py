"""The engine's public API: single flight, ignored events, listeners, cancel, configuration."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from orchestrator import TransferEngine, TransferError, TransferInProgress, load_flow
from orchestrator.clock import ManualClock
from orchestrator.sandbox import Sandbox, Scenario
from orchestrator.simulate import connect, drive
from orchestrator.testing import RecordingMedia
from tests.engine.conftest import ROOT, flow, run

SECRET = "engine-tests-secret-0123456789abcdefghij"


@pytest.fixture
async def rig() -> AsyncIterator[tuple[Sandbox, TransferEngine, RecordingMedia]]:
    scenario = Scenario.model_validate(
        {"phones": {"default": {"answer": 2.0, "decide_after": 1.0}}}
    )
    async with Sandbox(scenario, api_secret=SECRET, clock=ManualClock()) as sandbox:
        sandbox.place_caller("call-1")
        media = RecordingMedia()
        engine = TransferEngine(
            sandbox.url,
            sandbox.api_key,
            SECRET,
            media=media,
            trunk="ST_sandbox",
            clock=sandbox.clock,
        )
        unsubscribe = connect(sandbox, engine, media)
        yield sandbox, engine, media
        unsubscribe()
        await engine.aclose()


async def test_a_second_request_for_the_same_caller_is_refused(
    rig: tuple[Sandbox, TransferEngine, RecordingMedia],
) -> None:
    sandbox, engine, _ = rig
    first = await engine.start(flow("warm_transfer"), room="call-1")
    with pytest.raises(TransferInProgress) as caught:
        await engine.start(flow("warm_transfer"), room="call-1")
    assert caught.value.reason == "in_progress"
    assert caught.value.retryable
    await drive(sandbox, engine, first.outcome)
    assert (await first.outcome).kind == "merged"
    dials = [r for r in sandbox.requests if r["request"] and r["request"].get("sip_call_to")]
    assert len(dials) == 1


async def test_concurrent_requests_dial_once(
    rig: tuple[Sandbox, TransferEngine, RecordingMedia],
) -> None:
    """An LLM calling the transfer tool twice at once: one transfer, one refusal."""
    sandbox, engine, _ = rig
    results = await asyncio.gather(
        engine.start(flow("warm_transfer"), room="call-1"),
        engine.start(flow("warm_transfer"), room="call-1"),
        return_exceptions=True,
    )
    started = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, TransferInProgress)]
    assert (len(started), len(refused)) == (1, 1)
    await drive(sandbox, engine, started[0].outcome)


async def test_events_a_state_does_not_expect_are_ignored(
    rig: tuple[Sandbox, TransferEngine, RecordingMedia],
) -> None:
    sandbox, engine, _ = rig
    with capture_logs() as logs:
        transfer = await engine.start(flow("warm_transfer"), room="call-1")
        transfer.dtmf("consult-x", "nobody", "1")  # not the supervisor: dropped
        transfer.participant_left("elsewhere", "someone")  # not ours: dropped
        await asyncio.sleep(0)
        transfer.post("accepted")  # an outcome out of turn
        await drive(sandbox, engine, transfer.outcome)
    assert (await transfer.outcome).kind == "merged"
    ignored = [e for e in logs if e["event"] == "transfer.event_ignored"]
    assert [(e["trigger"], e["state"]) for e in ignored] == [("accepted", "hold_caller")]


async def test_listeners_see_every_transition(
    rig: tuple[Sandbox, TransferEngine, RecordingMedia],
) -> None:
    sandbox, engine, _ = rig
    seen: list[tuple[str, str, str]] = []
    transfer = await engine.start(flow("warm_transfer"), room="call-1")
    transfer.add_listener(lambda a, b, why: seen.append((a, b, why)))
    await drive(sandbox, engine, transfer.outcome)
    assert [to for _, to, _ in seen][-1] == "agent_leaves"


async def test_cancel_cleans_up(rig: tuple[Sandbox, TransferEngine, RecordingMedia]) -> None:
    sandbox, engine, media = rig
    transfer = await engine.start(flow("warm_transfer"), room="call-1")
    transfer.add_listener(lambda _, to, __: to == "dial_supervisor" and transfer.cancel())
    # The dial may be out already (the consult room was made during the hold): cleanup
    # waits for its answer, which comes in simulated time.
    await drive(sandbox, engine, transfer.outcome)
    outcome = await transfer.outcome
    assert (outcome.kind, outcome.reason) == ("failed", "cancelled")
    assert media.holding == set()
    assert [r for r in sandbox.world.rooms if r != "call-1"] == []
    assert engine.active == {}


async def test_voice_decision_through_the_worker(
    rig: tuple[Sandbox, TransferEngine, RecordingMedia],
) -> None:
    sandbox, engine, _ = rig
    text = (
        (ROOT / "flows" / "warm_transfer.yaml")
        .read_text()
        .replace('decline_digit: "2"', 'decline_digit: "2"\n    accept_by: [dtmf, voice]')
    )
    transfer = await engine.start(load_flow(text), room="call-1")
    transfer.add_listener(lambda _, to, __: to == "brief_supervisor" and transfer.decide(False))
    await drive(sandbox, engine, transfer.outcome)
    assert ((await transfer.outcome).kind, (await transfer.outcome).reason) == (
        "returned",
        "declined",
    )


async def test_room_without_a_caller(rig: tuple[Sandbox, TransferEngine, RecordingMedia]) -> None:
    _, engine, _ = rig
    with pytest.raises(TransferError) as caught:
        await engine.start(flow("warm_transfer"), room="empty-room")
    assert caught.value.reason == "config_error"
    assert engine.active == {}


def test_missing_credentials_name_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(TransferError, match="LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET"):
        TransferEngine(media=RecordingMedia())


async def test_hangup_step_ends_the_call() -> None:
    text = (
        (ROOT / "flows" / "warm_transfer.yaml")
        .read_text()
        .replace(
            "  return_to_agent:\n    type: return_to_agent", "  return_to_agent:\n    type: hangup"
        )
    )
    result, _ = await run(load_flow(text), {"phones": {"default": {"answer": "busy"}}})
    assert (result.outcome.kind, result.outcome.reason) == ("hung_up", "busy")
    assert result.caller_attributes is None  # the caller's leg was hung up


# Found by the random-scenario fuzzer (was tests/engine/test_fuzz_regressions.py).
async def test_a_raising_listener_does_not_strand_the_caller() -> None:
    from orchestrator.simulate import drive
    from tests.engine.conftest import flow, live

    async with live() as (sandbox, engine, _):
        transfer = await engine.start(flow("warm_transfer"), room="call-1")
        transfer.add_listener(lambda *_: 1 / 0)
        await drive(sandbox, engine, transfer.outcome)
        assert (await transfer.outcome).kind == "merged"
