"""Watchdog tests: the sandbox posts its signed webhooks over real HTTP to a relay, which keeps
each one (to replay, reorder, forge) and passes it on to the watchdogs under test, each
serving `aiohttp_app` on its own port and calling the sandbox through the unmodified
livekit-api client. Time is the sandbox's manual clock: no real sleeps.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from livekit import api

from orchestrator.clock import ManualClock
from orchestrator.sandbox import Sandbox
from orchestrator.watchdog import Watchdog, aiohttp_app

SECRET = "a-secret-long-enough-for-hs256-0123456789"
AGENT = "support"
TRANSFER_ID = "abcdefghijkl"
CHECKPOINT = {"transfer.id": TRANSFER_ID, "transfer.state": "held"}


@dataclass
class Hook:
    """One webhook as LiveKit signed it."""

    body: bytes
    auth: str

    @property
    def event(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


@dataclass
class Relay:
    """Receives the sandbox's webhooks, keeps them, and posts them on to every target."""

    targets: list[str] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)
    session: aiohttp.ClientSession | None = None

    async def receive(self, request: web.Request) -> web.Response:
        hook = Hook(await request.read(), request.headers.get("Authorization", ""))
        self.hooks.append(hook)
        await asyncio.gather(*(self.post(url, hook.body, hook.auth) for url in self.targets))
        return web.Response()

    async def post(self, url: str, body: bytes, auth: str | None) -> int:
        assert self.session is not None
        headers = {"Content-Type": "application/webhook+json"}
        if auth is not None:
            headers["Authorization"] = auth
        async with self.session.post(url, data=body, headers=headers) as reply:
            return reply.status

    def left(self, identity: str) -> list[Hook]:
        return [
            h
            for h in self.hooks
            if h.event["event"] == "participant_left"
            and h.event["participant"]["identity"] == identity
        ]


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


@dataclass
class World:
    """The sandbox, the relay, and a way to start watchdogs against them."""

    sandbox: Sandbox
    relay: Relay
    runners: list[web.AppRunner] = field(default_factory=list)
    watchdogs: list[Watchdog] = field(default_factory=list)
    urls: dict[int, str] = field(default_factory=dict)

    async def post(self, dog: Watchdog, body: bytes, auth: str | None) -> int:
        """Post a webhook to one watchdog, as LiveKit would; the HTTP status."""
        return await self.relay.post(self.urls[id(dog)], body, auth)

    @property
    def clock(self) -> ManualClock:
        return self.sandbox.manual_clock

    async def watchdog(self, *, relay: bool = True, **options: Any) -> Watchdog:
        """A started watchdog (no background sweep unless `sweep=True`), served over HTTP;
        with `relay`, the sandbox's webhooks reach it."""
        sweep = options.pop("sweep", False)
        dog = Watchdog(
            self.sandbox.url,
            self.sandbox.api_key,
            self.sandbox.api_secret,
            agent_name=AGENT,
            clock=self.clock,
            **options,
        )
        await dog.start(sweep=sweep)
        runner, url = await serve(aiohttp_app(dog))
        dog_url = f"{url}/webhook"
        self.urls[id(dog)] = dog_url
        self.runners.append(runner)
        self.watchdogs.append(dog)
        if relay:
            self.relay.targets.append(dog_url)
        return dog

    def call_with_agent(self, room: str = "call-1", agent: str = "agent-AJ_1") -> str:
        """A caller in a transfer (checkpoint `held`) and the agent running it; the caller's
        identity."""
        caller = self.sandbox.place_caller(room)
        self.sandbox.world.set_attributes(room, caller, dict(CHECKPOINT))
        self.sandbox.add_agent(room, agent)
        return caller

    def dispatches(self) -> list[dict[str, Any]]:
        """The CreateDispatch requests the sandbox answered successfully."""
        return [
            e["request"]
            for e in self.sandbox.requests
            if e["rpc"] == "AgentDispatchService.CreateDispatch" and e.get("status") == 200
        ]

    def calls(self, rpc: str) -> int:
        return sum(e["rpc"] == rpc for e in self.sandbox.requests)

    async def settle(self, seconds: float = 60.0) -> None:
        """Deliver every webhook, and run the clock until every watchdog is idle (or until
        `seconds` of simulated time have passed)."""
        until = self.clock.now() + seconds
        while True:
            await self.quiet()
            if not any(d.busy for d in self.watchdogs) or self.clock.now() >= until:
                return
            await self.clock.advance(0.25)

    async def quiet(self) -> None:
        """Loop passes until no webhook or LiveKit request is on its way."""
        hooks = self.sandbox.webhooks
        assert hooks is not None
        calm = 0
        for _ in range(200_000):
            sent = hooks.queue.empty() and getattr(hooks.queue, "_unfinished_tasks", 0) == 0
            calls = all(d._gateway is None or d._gateway.inflight == 0 for d in self.watchdogs)
            calm = calm + 1 if sent and calls and self.sandbox.core.idle else 0
            if calm >= 30:
                return
            await asyncio.sleep(0)
        raise AssertionError("the webhooks or LiveKit requests never settled")


def sign(
    body: bytes,
    *,
    key: str = "devkey",
    secret: str = SECRET,
    ttl: datetime.timedelta = datetime.timedelta(minutes=5),
    digest_of: bytes | None = None,
) -> str:
    """A webhook Authorization as LiveKit makes it (or, with other arguments, forges it)."""
    digest = base64.b64encode(hashlib.sha256(body if digest_of is None else digest_of).digest())
    return api.AccessToken(key, secret).with_sha256(digest.decode()).with_ttl(ttl).to_jwt()


@pytest.fixture
async def world() -> AsyncIterator[World]:
    relay = Relay()
    app = web.Application()
    app.router.add_post("/hook", relay.receive)
    relay_runner, relay_url = await serve(app)
    relay.session = aiohttp.ClientSession()
    sandbox = Sandbox(api_secret=SECRET, clock=ManualClock(), webhook=f"{relay_url}/hook")
    state = World(sandbox, relay)
    try:
        async with sandbox:
            try:
                yield state
            finally:
                await state.quiet()
                for dog in state.watchdogs:
                    await dog.aclose()
                for runner in state.runners:
                    await runner.cleanup()
    finally:
        await relay.session.close()
        await relay_runner.cleanup()
