"""The worker integration against the sandbox: a real engine over HTTP, fake rooms and audio.

The fakes keep these tests fast and deterministic; the real room, audio, DTMF and worker
process are in `make e2e` (`tests/e2e/test_worker*.py`).

`agent_rig` is one job: a caller (`sip_+14155552671`) and the agent in room `call-1`, a
`fake_job_context` whose room is a `FakeRoom` fed by the sandbox's events, a recording
session, and a `WarmTransfer` whose engine talks to the sandbox on a manual clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import structlog
from livekit.agents import JobContext, llm
from livekit.agents.testing import fake_job_context

from orchestrator import load_flow
from orchestrator.agents import AgentMedia, WarmTransfer
from orchestrator.clock import ManualClock
from orchestrator.flow.model import Flow
from orchestrator.sandbox import Event, Sandbox, Scenario
from orchestrator.sandbox.core import Flavor
from orchestrator.simulate import drive
from tests.agents.fakes import Bridge, FakeRoom, FakeRunContext, FakeSession, Players, Tracks

ROOT = Path(__file__).resolve().parents[2]
CALLER = "sip_+14155552671"


def flow(name: str = "warm_transfer", **changes: Any) -> Flow:
    loaded = load_flow(ROOT / "flows" / f"{name}.yaml")
    return loaded.model_copy(update=changes) if changes else loaded


def chat(*turns: tuple[str, str]) -> llm.ChatContext:
    context = llm.ChatContext.empty()
    for role, text in turns:
        context.add_message(role=role, content=text)  # type: ignore[arg-type]
    return context


@dataclass
class Rig:
    sandbox: Sandbox
    bridge: Bridge
    room: FakeRoom
    ctx: JobContext
    session: FakeSession
    players: Players
    tracks: Tracks
    warm: WarmTransfer
    shutdowns: list[str] = field(default_factory=list)

    async def call_tool(self, reason: str = "a billing dispute") -> tuple[str, FakeRunContext]:
        """The LLM calls the tool; simulated time runs until it returns."""
        context = FakeRunContext()
        task = asyncio.ensure_future(self.warm.tool(context, reason=reason))
        await self.drive(task)
        return task.result(), context

    async def drive(self, until: asyncio.Future[Any]) -> None:
        await drive(self.sandbox, self.warm.engine, until)

    def consult(self) -> FakeRoom:
        (name,) = [name for name in self.bridge.rooms if name != "call-1"]
        return self.bridge.rooms[name]


def when(sandbox: Sandbox, test: Any) -> asyncio.Future[Event]:
    """A future resolved by the first sandbox event for which `test(event)` is true."""
    future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()

    def watch(event: Event) -> None:
        if not future.done() and test(event):
            future.set_result(event)

    unsubscribe = sandbox.subscribe(watch)
    future.add_done_callback(lambda _: unsubscribe())
    return future


def reached(sandbox: Sandbox, state: str) -> asyncio.Future[Event]:
    """The caller's checkpoint says `state` (`held`, `briefing`, `merged`)."""
    return when(
        sandbox,
        lambda e: (
            e.participant is not None
            and e.participant.identity == CALLER
            and e.participant.attributes.get("transfer.state") == state
        ),
    )


@contextmanager
def _cleaned(ctx: JobContext) -> Iterator[None]:
    try:
        yield
    finally:
        ctx._tempdir.cleanup()  # a worker cleans it up when the job process ends


@asynccontextmanager
async def agent_rig(
    scenario: dict[str, Any] | None = None,
    *,
    flavor: Flavor = "cloud",
    transfer_flow: Flow | Path | None = None,
    history: llm.ChatContext | None = None,
    caller: bool = True,
    url: str | None = None,
    **options: Any,
) -> AsyncIterator[Rig]:
    loaded = Scenario.model_validate(scenario or {})
    async with Sandbox(loaded, flavor=flavor, clock=ManualClock()) as sandbox:
        if caller:
            sandbox.place_caller("call-1")
        sandbox.add_agent("call-1")
        bridge = Bridge(sandbox)
        room = bridge.add(FakeRoom("call-1", "agent"))
        session = FakeSession(history)
        players, tracks = Players(), Tracks()
        with fake_job_context(room=room) as ctx, _cleaned(ctx):  # type: ignore[arg-type]
            media = AgentMedia(
                ctx,
                session,  # type: ignore[arg-type]
                url=sandbox.url,
                api_key=sandbox.api_key,
                api_secret=sandbox.api_secret,
                music_dir=ROOT / "flows",
                player=players,  # type: ignore[arg-type]
                track=tracks,  # type: ignore[arg-type]
                connect=bridge.connect,  # type: ignore[arg-type]
            )
            warm = WarmTransfer(
                ctx,
                session,  # type: ignore[arg-type]
                transfer_flow or flow(),
                url=url or sandbox.url,
                api_key=sandbox.api_key,
                api_secret=sandbox.api_secret,
                trunk="ST_sandbox",
                clock=sandbox.clock,
                media=media,
                **options,
            )
            rig = Rig(sandbox, bridge, room, ctx, session, players, tracks, warm)
            ctx._on_shutdown = rig.shutdowns.append
            try:
                yield rig
            finally:
                await warm.aclose()
                bridge.unsubscribe()


@pytest.fixture(autouse=True)
def _reset_structlog() -> None:
    structlog.reset_defaults()
