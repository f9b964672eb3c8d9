"""The end-to-end session: the real stack up for the whole run, targets per test, figures.

`make e2e` runs this suite (it is not collected by the plain `pytest` of `make test`). The
stack is started here unless `make stack-up` already runs one, and is stopped at the end of
the session even when tests fail; its processes also die with this one if it is killed.
Each test gets fresh phones and rooms; the session counts the figures `report.py` prints.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from livekit import api

from stack.build import build
from stack.run import PORTS, down, read_env, running, up
from tests.e2e.harness.figures import FIGURES
from tests.e2e.harness.real import RealTarget, outbound_trunk
from tests.e2e.harness.sandboxed import SandboxTarget
from tests.e2e.harness.targets import Target

ROOT = Path(__file__).resolve().parent.parent.parent
RUNS = ROOT / "build" / "e2e"


@pytest.fixture(scope="session")
def stack() -> Iterator[dict[str, str]]:
    """The real stack's environment (`build/stack.env`)."""
    if running():
        yield read_env()
        return
    build()
    try:
        yield up(detach=False)
    finally:
        down()


@pytest.fixture(scope="session")
def carrier_trunk(stack: dict[str, str]) -> Iterator[str]:
    """The outbound trunk to the supervisors' phones, for the whole session (deleted after:
    the stack may be the user's `make stack-up`)."""

    def client() -> api.LiveKitAPI:
        return api.LiveKitAPI(
            stack["LIVEKIT_URL"], stack["LIVEKIT_API_KEY"], stack["LIVEKIT_API_SECRET"]
        )

    async def create() -> str:
        async with client() as lk:
            return await outbound_trunk(lk)

    async def delete(trunk: str) -> None:
        async with client() as lk:
            await lk.sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=trunk))

    trunk = asyncio.run(create())
    yield trunk
    asyncio.run(delete(trunk))


class Webhooks:
    """A receiver for the server's webhooks at the port its config names."""

    def __init__(self, key: str, secret: str) -> None:
        self.receiver = api.WebhookReceiver(api.TokenVerifier(key, secret))
        self.events: list[tuple[str, str, str]] = []
        self.refused = 0
        self.runner: web.AppRunner | None = None

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.text()
        try:
            event = self.receiver.receive(body, request.headers.get("Authorization", ""))
        except Exception:
            self.refused += 1
            return web.Response(status=401)
        self.events.append((event.event, event.room.name, event.participant.identity))
        return web.Response(text="ok")

    async def start(self, port: int) -> None:
        app = web.Application()
        app.router.add_post("/webhook", self._hook)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def _folder(request: pytest.FixtureRequest) -> Path:
    name = request.node.nodeid.split("::", 1)[-1]
    folder = RUNS / "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    return folder


@pytest_asyncio.fixture
async def webhooks(stack: dict[str, str]) -> AsyncIterator[Webhooks]:
    hooks = Webhooks(stack["LIVEKIT_API_KEY"], stack["LIVEKIT_API_SECRET"])
    await hooks.start(PORTS.webhook)
    yield hooks
    await hooks.stop()


@pytest_asyncio.fixture
async def real(
    request: pytest.FixtureRequest, stack: dict[str, str], carrier_trunk: str
) -> AsyncIterator[RealTarget]:
    target = RealTarget(stack, _folder(request), carrier_trunk, PORTS.debug)
    await target.begin()
    try:
        yield target
    finally:
        await target.close()


@pytest_asyncio.fixture
async def sandbox(
    request: pytest.FixtureRequest, stack: dict[str, str]
) -> AsyncIterator[SandboxTarget]:
    """The sandbox, with the stack's credentials (so one webhook receiver checks both)."""
    hooks = "webhooks" in request.fixturenames
    target = SandboxTarget(
        stack["LIVEKIT_API_KEY"],
        stack["LIVEKIT_API_SECRET"],
        webhook=f"http://127.0.0.1:{PORTS.webhook}/webhook" if hooks else None,
    )
    await target.start()
    try:
        yield target
    finally:
        await target.close()


@pytest.fixture(params=["sandbox", "real"])
def target(request: pytest.FixtureRequest) -> Target:
    """The same check against the sandbox (flavor oss) and the real server."""
    chosen: Target = request.getfixturevalue(request.param)
    return chosen


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    FIGURES.record(item, report)
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("E2E_REPORT")
    if path:
        FIGURES.dump(path)
