"""Crash recovery: a worker dies mid-transfer; the next one reads the checkpoint and makes the
call whole again (caller with the AI or with the supervisor, no orphan leg, no consult room).

The death is simulated at the one place a real one shows: the worker's API calls stop
reaching LiveKit and its agent drops out of the room. Whatever the dead engine still tries to
do afterwards goes nowhere.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from livekit.protocol.room import CreateRoomRequest
from structlog.testing import capture_logs

from orchestrator import TransferEngine, TransferInProgress, TransferOutcome
from orchestrator.flow.model import Flow
from orchestrator.flow.version import flow_version
from orchestrator.sandbox import Event, Sandbox
from orchestrator.sandbox.core import Flavor
from orchestrator.simulate import connect, drive
from orchestrator.testing import RecordingMedia
from tests.engine.conftest import CALLER_IDENTITY as CALLER, engine_for, flow, live

SCENARIO = {"phones": {"default": {"answer": 2.0, "decide_after": 2.0}}}


def kill(engine: TransferEngine, sandbox: Sandbox) -> None:
    """The worker process dies: no more API calls from it, and its agent leaves the room."""

    async def unreachable(*_: Any, **__: Any) -> Any:
        raise ConnectionError("this worker is gone")

    engine.gateway.call = unreachable  # type: ignore[method-assign]
    for transfer in list(engine.active.values()):
        transfer._task.cancel()
    sandbox.remove("call-1", "agent")


def phase_reached(phase: str, event: Event) -> bool:
    info = event.participant
    if info is None or event.kind != "participant_attributes_changed":
        return False
    if phase == "ringing":
        return info.identity.startswith("supervisor-") and (
            info.attributes.get("sip.callStatus") == "ringing"
        )
    return info.identity == CALLER and info.attributes.get("transfer.state") == phase


@dataclass
class After:
    """The sandbox once the replacement worker is done, and two minutes later."""

    outcome: TransferOutcome | None
    media: RecordingMedia
    rooms: list[str]
    caller: dict[str, str] | None
    legs: list[str]
    caller_hears: list[str]


async def crash_then_recover(
    flavor: Flavor, phase: str, recovering_flow: Flow | None = None
) -> After:
    """A worker running `warm_transfer` dies at `phase`; the replacement runs
    `recovering_flow` (by default the same flow)."""
    async with live(SCENARIO, flavor=flavor) as (sandbox, engine, _):
        killed = asyncio.get_running_loop().create_future()

        def watch(event: Event) -> None:
            if not killed.done() and phase_reached(phase, event):
                kill(engine, sandbox)
                killed.set_result(None)

        sandbox.subscribe(watch)
        transfer = await engine.start(flow("warm_transfer"), room="call-1")
        await drive(sandbox, engine, killed)
        await drive(sandbox, engine, transfer.outcome)  # the dead engine's last gasps

        sandbox.add_agent("call-1", "agent-2")  # LiveKit dispatches a new job to the room
        media = RecordingMedia()
        replacement = engine_for(sandbox, media)
        unsubscribe = connect(sandbox, replacement, media)
        recovered = asyncio.ensure_future(
            replacement.recover(recovering_flow or flow("warm_transfer"), room="call-1")
        )
        await drive(sandbox, replacement, recovered)
        outcome = recovered.result()
        await sandbox.manual_clock.advance(120)  # nothing may come back to life later
        unsubscribe()
        await replacement.aclose()
        caller = sandbox.world.member("call-1", CALLER)
        legs = [who for _, who in sandbox.legs.legs if who != CALLER]
        return After(
            outcome,
            media,
            rooms=list(sandbox.world.rooms),
            caller=dict(caller.info.attributes) if caller else None,
            legs=legs,
            caller_hears=[who for who in legs if sandbox.hears("call-1", CALLER, who)],
        )


@pytest.mark.parametrize("flavor", ["cloud", "oss"])
@pytest.mark.parametrize("phase", ["held", "ringing", "briefing", "merged"])
async def test_a_replacement_worker_unwinds_or_finishes(flavor: Flavor, phase: str) -> None:
    after = await crash_then_recover(flavor, phase)
    assert after.outcome is not None
    assert after.rooms == ["call-1"], "consult room left behind"
    assert after.caller is not None, "the caller must still be on the call"
    checkpoint = {k: v for k, v in after.caller.items() if k.startswith("transfer.")}
    actions = [call.action for call in after.media.calls]
    if phase == "merged":
        assert (after.outcome.kind, after.outcome.reason) == ("merged", None)
        assert after.legs == after.caller_hears  # the supervisor, talking with the caller
        assert len(after.legs) == 1
        assert actions == ["agent_leave"]
        # The call goes on, watched by the replacement, until one of them hangs up.
        assert checkpoint["transfer.state"] == "merged"
    else:
        assert checkpoint == {}, "checkpoint left"
        assert (after.outcome.kind, after.outcome.reason) == ("returned", "worker_lost")
        assert after.legs == [], "orphan supervisor leg"
        assert actions == ["stop_hold"]


async def test_nothing_to_recover_without_a_checkpoint() -> None:
    async with live() as (sandbox, engine, media):
        assert await engine.recover(flow("warm_transfer"), room="call-1") is None
        assert media.calls == []
        assert [r["rpc"] for r in sandbox.requests] == ["RoomService.ListParticipants"]


async def test_a_forged_checkpoint_names_no_room_to_delete() -> None:
    async with live() as (sandbox, engine, _):
        sandbox.world.create_room(CreateRoomRequest(name="vip"))
        sandbox.world.set_attributes(
            "call-1", CALLER, {"transfer.id": "../vip", "transfer.consult_room": "vip"}
        )
        assert await engine.recover(flow("warm_transfer"), room="call-1") is None
        assert "vip" in sandbox.world.rooms


async def test_recovery_waits_for_a_running_transfer() -> None:
    async with live(SCENARIO) as (sandbox, engine, _):
        transfer = await engine.start(flow("warm_transfer"), room="call-1")
        with pytest.raises(TransferInProgress):
            await engine.recover(flow("warm_transfer"), room="call-1")
        await drive(sandbox, engine, transfer.outcome)


# -- across versions of the flow (the rule: see `engine.recovery`) ------------------------

EDITED = flow("warm_transfer").model_copy(update={"max_hold": 90})  # a designer's edit


def recovered_event(logs: list[dict[str, Any]]) -> dict[str, Any]:
    (event,) = [e for e in logs if e["event"] == "transfer.recovered"]
    return event


async def test_the_same_version_recovers_as_ever_and_says_which_it_was() -> None:
    version = flow_version(flow("warm_transfer"))
    with capture_logs() as logs:
        after = await crash_then_recover("cloud", "briefing")
    assert after.outcome is not None
    assert (after.outcome.kind, after.outcome.reason) == ("returned", "worker_lost")
    assert after.outcome.flow_version == version  # read from the checkpoint
    event = recovered_event(logs)
    assert event["flow_version"] == event["current_flow_version"] == version
    finished = [e for e in logs if e["event"] == "transfer.finished"]
    assert finished[-1]["reason"] == "worker_lost"
    assert finished[-1]["flow_version"] == version


@pytest.mark.parametrize("flavor", ["cloud", "oss"])
@pytest.mark.parametrize("phase", ["held", "ringing", "briefing"])
async def test_a_transfer_started_under_another_version_is_unwound(
    flavor: Flavor, phase: str
) -> None:
    with capture_logs() as logs:
        after = await crash_then_recover(flavor, phase, recovering_flow=EDITED)
    assert after.outcome is not None
    assert (after.outcome.kind, after.outcome.reason) == ("returned", "flow_changed")
    assert after.outcome.flow_version == flow_version(flow("warm_transfer"))  # its own
    # Unwound as safely as under the same version: nothing left, the caller with the AI.
    assert after.rooms == ["call-1"], "consult room left behind"
    assert after.caller is not None
    assert not [key for key in after.caller if key.startswith("transfer.")], "checkpoint left"
    assert after.legs == [], "orphan supervisor leg"
    assert [call.action for call in after.media.calls] == ["stop_hold"]
    event = recovered_event(logs)
    assert event["flow_version"] == flow_version(flow("warm_transfer"))
    assert event["current_flow_version"] == flow_version(EDITED)


async def test_a_merged_call_under_another_version_is_kept_and_watched() -> None:
    after = await crash_then_recover("cloud", "merged", recovering_flow=EDITED)
    assert after.outcome is not None
    assert (after.outcome.kind, after.outcome.reason) == ("merged", None)
    assert len(after.legs) == 1
    assert after.legs == after.caller_hears  # the supervisor, still talking with the caller
    assert after.caller is not None
    assert after.caller["transfer.state"] == "merged"
    assert "transfer.flow_version" not in after.caller  # the merge no longer runs the flow


async def test_a_merged_checkpoint_naming_another_version_is_kept_too() -> None:
    """A `merged` that carries a version (written by hand, or by another library) is kept."""
    async with live() as (sandbox, engine, media):
        checkpoint = {
            "transfer.id": "abcdefghijkl",
            "transfer.state": "merged",
            "transfer.flow_version": "abcdefabcdef",
        }
        sandbox.world.set_attributes("call-1", CALLER, checkpoint)
        supervisor = sandbox.place_caller("call-1", "+15105550100")
        leg = {"transfer.id": "abcdefghijkl", "transfer.role": "supervisor"}
        sandbox.world.set_attributes("call-1", supervisor, leg)
        recovering = asyncio.ensure_future(engine.recover(flow("warm_transfer"), room="call-1"))
        await drive(sandbox, engine, recovering)
        outcome = recovering.result()
        assert outcome is not None
        assert (outcome.kind, outcome.reason) == ("merged", None)
        assert outcome.flow_version == "abcdefabcdef"
        assert "call-1" in engine.calls  # watched until one side hangs up
        assert [call.action for call in media.calls] == ["agent_leave"]


async def test_a_forged_version_counts_as_none() -> None:
    async with live() as (sandbox, engine, _):
        forged = {
            "transfer.id": "abcdefghijkl",
            "transfer.state": "held",
            "transfer.flow_version": "+14155552671",
        }
        sandbox.world.set_attributes("call-1", CALLER, forged)
        with capture_logs() as logs:
            recovering = asyncio.ensure_future(
                engine.recover(flow("warm_transfer"), room="call-1")
            )
            await drive(sandbox, engine, recovering)
        outcome = recovering.result()
        assert outcome is not None
        assert (outcome.reason, outcome.flow_version) == ("worker_lost", "")
        assert "14155552671" not in repr(logs)
