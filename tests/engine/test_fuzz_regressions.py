"""Failures a random-scenario fuzzer found in the engine, kept as regression tests."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator import TransferError
from orchestrator.engine.presence import DEPARTURE_GRACE_S
from orchestrator.sandbox import Event
from tests.engine.conftest import run


async def test_a_failed_brief_hangs_up_that_supervisor_before_the_next_dial(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Silent supervisors in a chain: never two live supervisor legs at once."""
    import orchestrator.simulate as simulation

    most = 0
    connect = simulation.connect

    def counting(sandbox: Any, engine: Any, media: Any) -> Any:
        def on_event(event: Event) -> None:
            nonlocal most
            live = [k for k in sandbox.legs.legs if k[1].startswith("supervisor-")]
            most = max(most, len(live))

        sandbox.subscribe(on_event)
        return connect(sandbox, engine, media)

    monkeypatch.setattr(simulation, "connect", counting)
    scenario = {"phones": {"default": {"answer": 0.5, "on_brief": "silent", "decide_after": 5.0}}}
    result, _ = await run("supervisor_chain", scenario)
    assert (result.outcome.kind, result.outcome.reason) == ("returned", "exhausted")
    assert len(result.dials()) == 3
    assert most == 1


async def test_an_api_error_at_start_is_a_typed_error() -> None:
    faults = [{"rpc": "RoomService.ListParticipants", "code": "unavailable"}]
    with pytest.raises(TransferError) as caught:
        await run("warm_transfer", {"faults": faults})
    assert (caught.value.reason, caught.value.retryable) == ("unavailable", True)


@pytest.mark.parametrize("code", ["deadline_exceeded", "resource_exhausted"])
async def test_a_failing_delete_room_is_retried(code: str) -> None:
    faults = [{"rpc": "RoomService.DeleteRoom", "code": code, "times": 2}]
    result, _ = await run(
        "supervisor_chain",
        {"faults": faults, "phones": {"default": {"answer": 0.0, "on_brief": "decline"}}},
    )
    assert result.outcome.reason == "exhausted"  # and run() found no room or leg left


async def test_caller_gone_before_the_transfer_saw_them_leave() -> None:
    result, _ = await run("warm_transfer", {"caller": {"hangup_after": 0.0}})
    assert result.outcome.kind == "caller_hung_up"


async def test_a_slow_start_is_driven_too() -> None:
    faults = [{"rpc": "RoomService.ListParticipants", "delay": 40.0}]
    result, _ = await run("warm_transfer", {"faults": faults})
    assert result.outcome.kind == "merged"


async def test_slow_cleanup_never_keeps_the_caller_on_hold() -> None:
    faults = [{"rpc": "RoomService.DeleteRoom", "code": "internal", "delay": 12.0}]
    result, _ = await run(
        "warm_transfer", {"faults": faults, "phones": {"default": {"answer": 26.0}}}
    )
    assert (result.outcome.reason, result.outcome.hold_seconds) == ("no_answer", 25.0)
    assert result.media.calls[-2].action == "stop_hold"  # before the slow room deletion


async def test_a_move_that_outlives_the_caller_leaves_no_task() -> None:
    faults = [
        {
            "rpc": "RoomService.MoveParticipant",
            "code": "deadline_exceeded",
            "times": 3,
            "delay": 200.0,
        }
    ]
    scenario = {
        "caller": {"hangup_after": 2.5},
        "faults": faults,
        "phones": {"default": {"answer": 1.0, "decide_after": 0.2}},
    }
    result, _ = await run("supervisor_chain", scenario)  # run() asserts no task is left
    assert result.outcome.kind == "caller_hung_up"


async def test_a_raising_listener_does_not_strand_the_caller() -> None:
    from orchestrator.simulate import drive
    from tests.engine.conftest import flow, live

    async with live() as (sandbox, engine, _):
        transfer = await engine.start(flow("warm_transfer"), room="call-1")
        transfer.add_listener(lambda *_: 1 / 0)
        await drive(sandbox, engine, transfer.outcome)
        assert (await transfer.outcome).kind == "merged"


async def test_cancel_right_after_start_and_again_during_cleanup() -> None:
    from orchestrator.simulate import drive
    from tests.engine.conftest import flow, live

    faults = [{"rpc": "RoomService.UpdateParticipant", "delay": 1.0, "times": 5}]
    async with live({"faults": faults}) as (sandbox, engine, _):
        starting = asyncio.ensure_future(engine.start(flow("warm_transfer"), room="call-1"))
        await drive(sandbox, engine, starting)  # its claim on the caller is delayed too
        transfer = starting.result()
        transfer.cancel()
        transfer._task.cancel()  # a worker shutting down cancels the task itself, too
        await drive(sandbox, engine, transfer.outcome)
        outcome = await transfer.outcome
        assert (outcome.kind, outcome.reason) == ("failed", "cancelled")
        assert engine.active == {}


async def test_supervisor_hanging_up_at_the_answer_is_supervisor_left() -> None:
    scenario = {"phones": {"default": {"answer": 0.0, "on_brief": "hangup", "decide_after": 0.0}}}
    result, _ = await run("warm_transfer", scenario)
    assert (result.outcome.kind, result.outcome.reason) == ("returned", "supervisor_left")
    assert result.outcome.hold_seconds < 1 + DEPARTURE_GRACE_S  # a departure must last


async def test_unknown_number_is_a_config_error() -> None:
    from orchestrator import load_flow
    from tests.engine.conftest import ROOT

    result, _ = await run(
        load_flow(ROOT / "flows" / "warm_transfer.yaml"),
        {
            "faults": [
                {
                    "rpc": "SIP.CreateSIPParticipant",
                    "code": "not_found",
                    "sip_status_code": 404,
                    "message": "Not Found",
                }
            ]
        },
    )
    assert (result.outcome.kind, result.outcome.reason, result.outcome.sip_status) == (
        "returned",
        "config_error",
        404,
    )
