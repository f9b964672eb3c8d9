"""Self-hosted crash recovery with nothing written by the test: `orchestrator watchdog` runs
(as a user runs it, a process reading LIVEKIT_*), livekit-server posts its webhooks to it, and
the worker running a transfer is killed (SIGKILL) while the supervisor rings, during the brief,
or after the merge. The test never calls `CreateDispatch`: the watchdog sees the agent leave
a room whose caller carries the checkpoint and dispatches the agent again, to a second
worker, whose `WarmTransfer.recover()` unwinds or finishes the transfer. Then LiveKit's own
webhooks of that room are replayed, and one is forged (re-signed with another secret): the
watchdog refuses the forgery and dispatches nothing more.

The server posts to `PORTS.webhook` (its config's `webhook.urls`); a relay there keeps every
webhook (to replay) and passes it on to the watchdog.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from livekit import api

from orchestrator.sandbox.scenario import PhoneSpec
from stack.run import DIE_WITH_PARENT, PORTS
from tests.e2e.harness.deadline import until
from tests.e2e.harness.figures import FIGURES
from tests.e2e.harness.real import RealTarget
from tests.e2e.harness.targets import CALLER_ID, SUPERVISOR
from tests.e2e.harness.workers import AGENT, Worker

ROOT = Path(__file__).resolve().parent.parent.parent
AI = 1500.0
PHASES: dict[str, tuple[PhoneSpec, dict[str, Any], str]] = {
    # phase: (the supervisor's phone, what the worker logs once there, the recovered outcome)
    "ringing": (PhoneSpec(answer="no_answer"), {}, "returned"),
    "briefing": (
        PhoneSpec(answer=1.0, on_brief="silent"),
        {"event": "transfer.transition", "to_state": "brief_supervisor"},
        "returned",
    ),
    "merged": (
        PhoneSpec(answer=1.0, on_brief="accept", decide_after=2.0),
        {"event": "e2e.stalled_after_merge"},
        "merged",
    ),
}


class Relay:
    """The webhook URL the server posts to: keeps each webhook and passes it on."""

    def __init__(self) -> None:
        self.hooks: list[tuple[bytes, str]] = []
        self.target = ""
        self.session = aiohttp.ClientSession()
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhook", self._hook)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", PORTS.webhook).start()

    async def _hook(self, request: web.Request) -> web.Response:
        body, auth = await request.read(), request.headers.get("Authorization", "")
        self.hooks.append((body, auth))
        status = await self.post(body, auth) if self.target else 503
        return web.Response(status=status)

    async def post(self, body: bytes, auth: str) -> int:
        headers = {"Authorization": auth, "Content-Type": "application/webhook+json"}
        async with self.session.post(self.target, data=body, headers=headers) as reply:
            return reply.status

    def of(self, room: str) -> list[tuple[bytes, str]]:
        return [(b, a) for b, a in self.hooks if json.loads(b).get("room", {}).get("name") == room]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        await self.session.close()


class WatchdogProcess:
    """`python -m orchestrator watchdog` against the stack, on a free port."""

    def __init__(self, folder: Path, stack: dict[str, str]) -> None:
        self.log = folder / "watchdog.log"
        self.env = {**os.environ, **{k: stack[k] for k in stack if k.startswith("LIVEKIT_")}}
        self.process: subprocess.Popen[bytes] | None = None
        self.base = ""
        self.relay = Relay()

    def launch(self) -> None:
        command = [
            *DIE_WITH_PARENT,
            sys.executable,
            *("-m", "orchestrator", "watchdog", "--agent-name", AGENT, "--port", "0", "--json"),
        ]
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

    async def start(self) -> None:
        self.launch()
        await until(lambda: " on http" in self.log.read_text(), 30, "the watchdog serving")
        line = next(x for x in self.log.read_text().splitlines() if " on http" in x)
        self.base = line.split(" on ")[1].strip()

    async def counts(self) -> dict[str, int]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.base}/healthz") as reply,
        ):
            counts: dict[str, int] = (await reply.json())["counts"]
            return counts

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest_asyncio.fixture
async def watchdog(real: RealTarget, stack: dict[str, str]) -> AsyncIterator[WatchdogProcess]:
    dog = WatchdogProcess(real.folder, stack)
    relay = dog.relay
    await relay.start()
    try:
        await dog.start()
        relay.target = f"{dog.base}/webhook"
        yield dog
    finally:
        await asyncio.to_thread(dog.stop)
        await relay.stop()


async def _reached(real: RealTarget, worker: Worker, phase: str) -> None:
    _, logged, _ = PHASES[phase]
    if phase == "ringing":
        await real.until(
            lambda: [c.received for c in real.supervisor_calls()] == [("INVITE",)],
            60,
            "the supervisor's phone ringing",
        )
        return
    fields = dict(logged)
    await worker.wait(fields.pop("event"), 60, **fields)


async def _caller_attributes(real: RealTarget, room: str) -> dict[str, str]:
    who = api.RoomParticipantIdentity(room=room, identity=CALLER_ID)
    return dict((await real.lk.room.get_participant(who)).attributes)


@pytest.mark.parametrize("phase", sorted(PHASES))
async def test_the_watchdog_dispatches_a_dead_workers_agent_again(
    real: RealTarget, stack: dict[str, str], watchdog: WatchdogProcess, phase: str
) -> None:
    room = f"watchdog-{phase}"
    phone, _, expected = PHASES[phase]
    stall = {"E2E_STALL_AFTER_MERGE": "1"} if phase == "merged" else {}
    first = Worker(real.folder, stack, real.trunk, "first", **stall)
    second = Worker(real.folder, stack, real.trunk, "second")
    relay = watchdog.relay
    try:
        first.start()
        await first.registered()
        await real.phones({SUPERVISOR: phone})
        await real.call_in(room, agent=AGENT)
        await _reached(real, first, phase)
        assert (await _caller_attributes(real, room)).get("transfer.state")
        dispatched_before = len(await real.lk.agent_dispatch.list_dispatch(room))
        first.kill()
        killed = asyncio.get_running_loop().time()
        second.start()  # after the kill, as a restarted worker would be
        await second.registered()
        recovered = await second.wait("e2e.recovered", 120)  # no CreateDispatch here
        recovery_s = asyncio.get_running_loop().time() - killed
        assert recovered["outcome"] == expected
        dispatches = await real.lk.agent_dispatch.list_dispatch(room)
        assert len(dispatches) == dispatched_before + 1
        # LiveKit's own webhooks of this room again, in reverse, and one forged.
        hooks = relay.of(room)
        for body, auth in reversed(hooks):
            assert await relay.post(body, auth) in (200, 202)
        left = next(b for b, _ in hooks if json.loads(b)["event"] == "participant_left")
        forged = (
            api.AccessToken(stack["LIVEKIT_API_KEY"], "a-forged-secret-" + "x" * 32)
            .with_sha256(_sha256(left))
            .with_ttl(datetime.timedelta(minutes=5))
            .to_jwt()
        )
        refused = await relay.post(left, forged) == 401
        FIGURES.watchdog(recovery_s, forged_refused=refused)
        assert refused
        await _after(real, second, room, phase)  # a replay acted on would dispatch meanwhile
        counts = await watchdog.counts()
        assert counts.get("decisions.dispatched") == 1, counts
        assert counts.get("webhooks.refused_forged") == 1, counts
    finally:
        await asyncio.to_thread(first.stop)
        await asyncio.to_thread(second.stop)


def _sha256(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


async def _after(real: RealTarget, second: Worker, room: str, phase: str) -> None:
    assert real.caller is not None
    assert real.carrier is not None
    if phase == "merged":
        # The supervisor stays with the caller; the new job follows their call until one of
        # them hangs up (the room is then deleted: no loss for the watchdog).
        assert [c.received for c in real.supervisor_calls()] == [("INVITE", "ACK")]
        assert real.carrier.live() != []
        await real.hang_up_supervisor()
        await real.until(lambda: "BYE" in real.caller_received(), 5, "the caller's BYE")
        ended = await second.wait("transfer.call_ended", 10)
        assert (ended["hung_up_first"], ended["released"]) == ("supervisor", True)
        await second.wait("e2e.job_ended", 30)
        return
    # The dead transfer's leg is ended (CANCEL while ringing, BYE once answered); the new
    # job's AI speaks to the caller again.
    leg_end = ("INVITE", "CANCEL") if phase == "ringing" else ("INVITE", "ACK", "BYE")
    await real.until(
        lambda: [c.received for c in real.supervisor_calls()] == [leg_end], 20, "the leg ended"
    )
    back = second.at(await second.wait("e2e.recovered"))
    await asyncio.sleep(3.0)
    heard = real.caller.heard
    assert heard is not None
    assert heard.tone(AI, since=back) > 20
    attributes = await _caller_attributes(real, room)
    assert not [key for key in attributes if key.startswith("transfer.")], "checkpoint left"
    # The caller's call stayed up throughout.
    assert real.caller.sipp is not None
    assert real.caller.sipp.running()
    assert "BYE" not in real.caller_received()
