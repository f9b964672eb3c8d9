"""Engine tests: real transfers through `livekit-api` over HTTP against the sandbox.

Every test runs on a manual clock (time jumps from deadline to deadline, so the runs are
exact and instant) and checks the invariants after its transfer: no consult room or
supervisor leg left, the caller not on hold, no task of ours left, no raw number in the logs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from orchestrator import TransferEngine, load_flow
from orchestrator.clock import ManualClock
from orchestrator.flow.model import Flow
from orchestrator.sandbox import Sandbox, Scenario
from orchestrator.sandbox.core import Flavor
from orchestrator.simulate import Simulation, connect, drive, simulate
from orchestrator.testing import RecordingMedia

ROOT = Path(__file__).resolve().parents[2]
CALLER = "+14155552671"
CALLER_IDENTITY = f"sip_{CALLER}"  # the caller's participant identity in the room
SUPERVISOR = "+15105550100"
CANARIES = (CALLER, SUPERVISOR, "+15105550101", "+15105550102", "4155552671", "5105550100")


def flow(name: str) -> Flow:
    return load_flow(ROOT / "flows" / f"{name}.yaml")


def check_invariants(result: Simulation, logs: list[dict[str, Any]]) -> None:
    assert result.leftover_rooms == [], "consult room left behind"
    talking = result.outcome.kind == "merged" and result.call_end is None
    # The supervisor kept: the last attempt answered (in a ring group, the one kept).
    kept = [a for a in result.outcome.attempts if a.result == "answered"][-1:]
    merged_supervisor = [f"call-1/{a.identity}" for a in kept] if talking else []
    assert result.leftover_legs == merged_supervisor, "supervisor leg left behind"
    assert result.media.holding == set(), "caller still on hold"
    if result.caller_attributes is not None:
        checkpoint = {k: v for k, v in result.caller_attributes.items() if "transfer." in k}
        # A merged call keeps its checkpoint until one side hangs up (then the room goes).
        assert checkpoint.get("transfer.state") == ("merged" if talking else None)
        assert talking or not checkpoint
    text = repr(logs)
    for canary in CANARIES:
        assert canary not in text, f"raw number {canary[:4]}... in logs"
    finished = [e for e in logs if e["event"] == "transfer.finished"]
    assert len(finished) == 1
    assert {"transfer_id", "flow"} <= set(finished[0])


async def run(
    flow_name: str | Flow, scenario: dict[str, Any] | None = None, *, flavor: Flavor = "cloud"
) -> tuple[Simulation, list[dict[str, Any]]]:
    loaded = flow(flow_name) if isinstance(flow_name, str) else flow_name
    with capture_logs() as logs:
        result = await simulate(
            loaded, Scenario.model_validate(scenario or {}), flavor=flavor, clock=ManualClock()
        )
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == [], f"tasks left running: {others}"
    check_invariants(result, logs)
    return result, logs


def engine_for(sandbox: Sandbox, media: RecordingMedia) -> TransferEngine:
    """An engine (a worker, in effect) for the sandbox's LiveKit, on its clock."""
    return TransferEngine(
        sandbox.url,
        sandbox.api_key,
        sandbox.api_secret,
        media=media,
        trunk="ST_sandbox",
        clock=sandbox.clock,
    )


@contextlib.asynccontextmanager
async def live(
    scenario: dict[str, Any] | None = None, *, flavor: Flavor = "cloud"
) -> AsyncIterator[tuple[Sandbox, TransferEngine, RecordingMedia]]:
    """A sandbox on a manual clock with a caller and an agent in `call-1`, and an engine
    whose transfers get the sandbox's room events, as a worker's would. The engine has
    asked its capabilities already (the open-source flavor takes 3 simulated seconds to
    answer the MoveParticipant probe, and only `drive` moves the clock)."""
    loaded = Scenario.model_validate(scenario or {})
    async with Sandbox(loaded, flavor=flavor, clock=ManualClock()) as sandbox:
        sandbox.place_caller("call-1")
        sandbox.add_agent("call-1")
        media = RecordingMedia()
        engine = engine_for(sandbox, media)
        unsubscribe = connect(sandbox, engine, media)
        if flavor == "oss":
            await drive(sandbox, engine, asyncio.ensure_future(engine.capabilities()))
        try:
            yield sandbox, engine, media
        finally:
            unsubscribe()
            await engine.aclose()


@pytest.fixture(autouse=True)
def _reset_structlog() -> None:
    import structlog

    structlog.reset_defaults()


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
