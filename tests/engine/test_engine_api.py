"""The engine's public API: ignored events, listeners, voice decisions, configuration."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from orchestrator import TransferEngine, TransferError, load_flow
from orchestrator.sandbox import Sandbox
from orchestrator.simulate import drive
from orchestrator.testing import RecordingMedia
from tests.engine.conftest import ROOT, flow, run


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
