"""`WarmTransfer(..., reload=True)`: a designer's edit of the flow file reaches the running
worker at its next transfer, only when the new version is valid; a transfer under way keeps
the version it started with. On the sandbox, through the real engine, on a manual clock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from orchestrator.errors import TransferError
from orchestrator.flow.version import flow_version
from tests.agents.conftest import CALLER, agent_rig, flow, reached
from tests.agents.fakes import FakeRunContext
from tests.conftest import WARM_TRANSFER as ORIGINAL, events, save

BUSY = {"phones": {"default": {"answer": "busy"}}}  # each transfer returns to the AI
HOLD_SAY = "Please hold for a moment while I connect you with a supervisor."
SORRY = "I'm sorry, I couldn't reach a supervisor right now. I'm still here to help."


async def test_a_valid_edit_is_used_by_the_next_transfer(flow_file: Path) -> None:
    async with agent_rig(BUSY, transfer_flow=flow_file, reload=True) as rig:
        first_version = flow_version(rig.warm.flow)
        with capture_logs() as logs:
            await rig.call_tool()
            save(flow_file, ORIGINAL.replace(HOLD_SAY, "One moment, please."))
            await rig.call_tool()
        assert rig.session.said == [HOLD_SAY, SORRY, "One moment, please.", SORRY]
        started = [e["flow_version"] for e in events(logs, "transfer.started")]
        finished = [e["flow_version"] for e in events(logs, "transfer.finished")]
        assert started == finished == [first_version, flow_version(rig.warm.flow)]
        assert first_version != flow_version(rig.warm.flow)
        (reloaded,) = events(logs, "flow.reloaded")
        assert reloaded["previous_flow_version"] == first_version


async def test_an_invalid_edit_keeps_the_last_good_version_and_logs_why(
    flow_file: Path,
) -> None:
    async with agent_rig(BUSY, transfer_flow=flow_file, reload=True) as rig:
        good = rig.warm.flow
        broken = ORIGINAL.replace(HOLD_SAY, "One moment, please.").replace(
            "ring_timeout: 25", "ring_timout: 25"
        )
        save(flow_file, broken)
        with capture_logs() as logs:
            result, _ = await rig.call_tool()
        assert result.startswith("The transfer did not go through"), result  # it ran
        assert rig.session.said == [HOLD_SAY, SORRY]  # under the last good version
        assert rig.warm.flow is good
        (failed,) = events(logs, "flow.reload_failed")
        assert failed["log_level"] == "warning"
        (problem,) = failed["problems"]
        assert problem.startswith(f"{flow_file}:32:5: ")
        assert failed["flow_version"] == flow_version(good)
        (started,) = events(logs, "transfer.started")
        assert started["flow_version"] == flow_version(good)


async def test_an_edit_naming_missing_hold_music_is_not_used(flow_file: Path) -> None:
    async with agent_rig(BUSY, transfer_flow=flow_file, reload=True) as rig:
        good = rig.warm.flow
        save(flow_file, ORIGINAL.replace("music: builtin", "music: jazz.mp3"))
        with capture_logs() as logs:
            await rig.call_tool()
        assert rig.warm.flow is good
        (failed,) = events(logs, "flow.reload_failed")
        (problem,) = failed["problems"]
        assert problem.startswith(f"{flow_file}:26:12: hold step 'hold_caller': music file")


async def test_a_transfer_in_flight_keeps_the_version_it_started_with(flow_file: Path) -> None:
    silent = {"phones": {"default": {"answer": 1.0, "on_brief": "silent"}}}
    async with agent_rig(silent, transfer_flow=flow_file, reload=True) as rig:
        first_version = flow_version(rig.warm.flow)
        with capture_logs() as logs:
            task = asyncio.ensure_future(rig.warm.tool(FakeRunContext(), reason="help"))
            await rig.drive(reached(rig.sandbox, "held"))
            entered: dict[str, float] = {}
            transfer = rig.warm.engine.active["call-1"]
            transfer.add_listener(
                lambda _, to, __: entered.setdefault(to, rig.sandbox.clock.now())
            )
            # The designer shortens the brief's timeout and rewords the apology meanwhile.
            edited = ORIGINAL.replace("timeout: 30", "timeout: 10").replace(
                SORRY, "Sorry, nobody is free."
            )
            save(flow_file, edited)
            await rig.drive(task)  # the supervisor stays silent: the brief times out
            # The version it started with: a 30 s brief, then its own apology.
            assert entered["return_to_agent"] - entered["brief_supervisor"] == pytest.approx(30)
            assert rig.session.said[-1] == SORRY
            (finished,) = events(logs, "transfer.finished")
            assert finished["reason"] == "timeout"
            assert finished["flow_version"] == first_version
            assert events(logs, "flow.reloaded") == []  # read only when a transfer starts
            await rig.call_tool()
        assert rig.session.said[-1] == "Sorry, nobody is free."
        (reloaded,) = events(logs, "flow.reloaded")
        assert reloaded["previous_flow_version"] == first_version


async def test_an_unchanged_file_is_not_loaded_again(flow_file: Path) -> None:
    async with agent_rig(BUSY, transfer_flow=flow_file, reload=True) as rig:
        loaded = rig.warm.flow
        with capture_logs() as logs:
            await rig.call_tool()
            await rig.call_tool()
        assert rig.warm.flow is loaded
        assert [e for e in logs if e["event"].startswith("flow.")] == []


async def test_without_reload_an_edit_waits_for_a_restart(flow_file: Path) -> None:
    async with agent_rig(BUSY, transfer_flow=flow_file) as rig:
        save(flow_file, ORIGINAL.replace(HOLD_SAY, "One moment, please."))
        await rig.call_tool()
        assert rig.session.said == [HOLD_SAY, SORRY]


async def test_reload_needs_a_flow_file() -> None:
    with pytest.raises(TransferError, match="reload=True needs the flow as a file path"):
        async with agent_rig(transfer_flow=flow(), reload=True):
            pass


async def test_recover_compares_the_checkpoint_with_the_file_as_it_is_now(
    flow_file: Path,
) -> None:
    async with agent_rig(transfer_flow=flow_file, reload=True) as rig:
        started_under = flow_version(rig.warm.flow)
        checkpoint = {
            "transfer.id": "abcdefghijkl",
            "transfer.state": "held",
            "transfer.flow_version": started_under,
        }
        rig.sandbox.world.set_attributes("call-1", CALLER, checkpoint)
        save(flow_file, ORIGINAL.replace("max_hold: 120", "max_hold: 90"))
        recovering = asyncio.ensure_future(rig.warm.recover())
        await rig.drive(recovering)
        outcome = recovering.result()
        assert outcome is not None
        assert (outcome.kind, outcome.reason) == ("returned", "flow_changed")
        assert outcome.flow_version == started_under
        assert flow_version(rig.warm.flow) != started_under
