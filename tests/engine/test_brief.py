"""The brief: the supervisor hears it, decides by key or voice, and a failed brief hangs that
supervisor up before anyone else is dialled."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator.sandbox import Event
from orchestrator.simulate import drive
from tests.engine.conftest import flow, live, run


# Found by the random-scenario fuzzer (was tests/engine/test_fuzz_regressions.py).
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


# Seen on the real stack (was tests/engine/test_real_stack_findings.py).
async def test_a_key_pressed_during_the_brief_decides_at_once() -> None:
    """The real worker's brief is spoken by TTS for several seconds; a supervisor pressing 1
    in the middle of it waited for the end before the merge. Now the rest is not read."""
    scenario = {"phones": {"default": {"answer": 1.0, "decide_after": 1.0}}}
    async with live(scenario) as (sandbox, engine, media):
        clock = sandbox.manual_clock
        spoken: list[str] = []

        async def long_brief(room: str, supervisor: str, text: str) -> None:
            try:
                await clock.sleep(20.0)  # a long brief, read slowly
                spoken.append("all")
            except asyncio.CancelledError:
                spoken.append("cut short")
                raise

        media.brief = long_brief  # type: ignore[method-assign]
        transfer = await engine.start(flow("warm_transfer"), room="call-1")
        await drive(sandbox, engine, transfer.outcome)
        outcome = await transfer.outcome
        assert outcome.kind == "merged"
        assert spoken == ["cut short"]
        assert outcome.hold_seconds < 5
