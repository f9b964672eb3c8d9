"""The flow's version (`orchestrator.flow.version`) travels with each transfer: written in the
caller's checkpoint until the merge, logged in `transfer.started` and `transfer.finished`,
and in the outcome, so a replacement worker (`test_recovery.py`) and a report can tell which
version of the flow a transfer ran."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from orchestrator.flow.version import flow_version
from orchestrator.sandbox import Event
from orchestrator.sandbox.core import Flavor
from orchestrator.simulate import drive
from tests.engine.conftest import CALLER_IDENTITY as CALLER, flow, live

SCENARIO = {"phones": {"default": {"answer": 2.0, "decide_after": 2.0}}}
DECLINES = {"phones": {"default": {"answer": 1.0, "on_brief": "decline"}}}


@pytest.mark.parametrize("flavor", ["cloud", "oss"])
async def test_the_version_is_in_the_checkpoint_until_the_merge(flavor: Flavor) -> None:
    warm = flow("warm_transfer")
    version = flow_version(warm)
    async with live(SCENARIO, flavor=flavor) as (sandbox, engine, _):
        written: list[tuple[str, str | None]] = []

        def watch(event: Event) -> None:
            info = event.participant
            if (
                info is not None
                and info.identity == CALLER
                and "transfer.state" in info.attributes
            ):
                state = info.attributes["transfer.state"]
                if not written or written[-1][0] != state:
                    written.append((state, info.attributes.get("transfer.flow_version")))

        sandbox.subscribe(watch)
        with capture_logs() as logs:
            transfer = await engine.start(warm, room="call-1")
            await drive(sandbox, engine, transfer.outcome)
        outcome = await transfer.outcome
        assert outcome.kind == "merged"
        assert outcome.flow_version == version
        states = [state for state, _ in written]
        assert states[0] == "requested"
        assert "held" in states
        assert states[-1] == "merged"
        for state, written_version in written:
            # From the merge on, the call no longer runs the flow: `merged` drops it.
            assert written_version == (None if state == "merged" else version), state
        (started,) = [e for e in logs if e["event"] == "transfer.started"]
        (finished,) = [e for e in logs if e["event"] == "transfer.finished"]
        assert started["flow_version"] == finished["flow_version"] == version


async def test_an_unwound_transfer_clears_the_version_with_its_checkpoint() -> None:
    warm = flow("warm_transfer")
    async with live(DECLINES) as (sandbox, engine, _):
        with capture_logs() as logs:
            transfer = await engine.start(warm, room="call-1")
            await drive(sandbox, engine, transfer.outcome)
        outcome = await transfer.outcome
        assert (outcome.kind, outcome.reason) == ("returned", "declined")
        assert outcome.flow_version == flow_version(warm)
        caller = sandbox.world.member("call-1", CALLER)
        assert caller is not None
        assert not [key for key in caller.info.attributes if key.startswith("transfer.")]
        (finished,) = [e for e in logs if e["event"] == "transfer.finished"]
        assert finished["flow_version"] == flow_version(warm)


async def test_two_versions_of_a_flow_run_side_by_side_each_under_its_own() -> None:
    """One worker, two callers, a designer's edit between their transfers: each transfer
    records the version it started with."""
    warm = flow("warm_transfer")
    edited = warm.model_copy(update={"max_hold": 90})
    async with live(SCENARIO) as (sandbox, engine, _):
        sandbox.place_caller("call-2", "+14155552672")
        first = await engine.start(warm, room="call-1")
        second = await engine.start(edited, room="call-2")
        await drive(sandbox, engine, first.outcome)
        await drive(sandbox, engine, second.outcome)
        assert (await first.outcome).flow_version == flow_version(warm)
        assert (await second.outcome).flow_version == flow_version(edited)
        assert flow_version(warm) != flow_version(edited)
