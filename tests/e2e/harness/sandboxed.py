"""The project's sandbox as a target: flavor `oss`, real time, its scripted phones."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Literal

from livekit import api

from orchestrator.engine import TransferEngine
from orchestrator.sandbox import Sandbox
from orchestrator.sandbox.scenario import PhoneSpec, Scenario, TrunkSpec
from orchestrator.sandbox.state import Event
from orchestrator.simulate import connect
from orchestrator.testing import RecordingMedia
from tests.e2e.harness.targets import BUSINESS, CALLER, PhoneCall, Target

__all__ = ["SandboxTarget"]


class SandboxTarget(Target):
    name: Literal["sandbox", "real"] = "sandbox"

    def __init__(self, key: str, secret: str, *, webhook: str | None = None) -> None:
        scenario = Scenario(trunk=TrunkSpec(id="ST_sandbox", numbers=[BUSINESS]))
        self.sandbox = Sandbox(
            scenario, api_key=key, api_secret=secret, flavor="oss", webhook=webhook
        )
        self.events = []
        self._unsubscribe: list[Callable[[], None]] = []
        self.preexisting: set[str] = set()
        self.trunk = "ST_sandbox"

    async def start(self) -> None:
        await self.sandbox.start()
        self.url, self.api_key = self.sandbox.url, self.sandbox.api_key
        self.api_secret = self.sandbox.api_secret
        self.lk = api.LiveKitAPI(self.url, self.api_key, self.api_secret)
        self.sandbox.subscribe(self._event)

    def _event(self, event: Event) -> None:
        who = event.participant.identity if event.participant else ""
        attributes = json.dumps(dict(event.participant.attributes)) if event.participant else ""
        kinds = {
            "participant_joined": ("joined", attributes),
            "participant_left": ("left", ""),
            "track_published": (
                "published",
                ",".join(t.sid for t in event.participant.tracks) if event.participant else "",
            ),
            "sip_dtmf_received": ("dtmf", event.digit),
        }
        if event.kind in kinds:
            kind, detail = kinds[event.kind]
        elif event.kind == "participant_attributes_changed" and event.participant:
            kind, detail = "attributes", json.dumps(dict(event.participant.attributes))
        else:
            return
        self.events.append((kind, who, detail))

    def feed(self, engine: TransferEngine, media: RecordingMedia, room: str) -> None:
        self._unsubscribe.append(connect(self.sandbox, engine, media))

    async def phones(self, phones: dict[str, PhoneSpec], *, owned_only: bool = False) -> None:
        self.sandbox.scenario.phones = {"default": PhoneSpec(), **phones}
        self.sandbox.scenario.trunk.caller_id_policy = "owned_only" if owned_only else "any"

    async def call_in(
        self, room: str, number: str = CALLER, *, hangup_after: float | None = None
    ) -> str:
        self.sandbox.add_agent(room)
        identity = self.sandbox.place_caller(room, number)
        if hangup_after is not None:
            loop = asyncio.get_running_loop()
            loop.call_later(hangup_after, self.sandbox.hang_up, room, identity)
        return identity

    def supervisor_calls(self) -> list[PhoneCall]:
        return [
            PhoneCall(
                log.number, log.from_number, tuple(log.received), log.answered and not log.over
            )
            for log in self.sandbox.phone_logs
            if log.direction == "outbound"
        ]

    def caller_received(self) -> tuple[str, ...]:
        logs = [log for log in self.sandbox.phone_logs if log.direction == "inbound"]
        return tuple(logs[-1].received) if logs else ()

    async def hang_up_caller(self) -> None:
        for log in self.sandbox.phone_logs:
            if log.direction == "inbound":
                self.sandbox.hang_up(log.room, log.identity)

    async def hang_up_supervisor(self) -> None:
        answered = [
            log
            for log in self.sandbox.phone_logs
            if log.direction == "outbound" and "ACK" in log.received and log.answered
        ]
        self.sandbox.hang_up(answered[-1].room, answered[-1].identity)

    async def subscribed(self, room: str, listener: str, speaker: str) -> bool:
        return self.sandbox.hears(room, listener, speaker)

    async def agent_leave(self, room: str) -> None:
        self.sandbox.unpublish(room, "agent")

    async def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        await self.lk.aclose()
        await self.sandbox.stop()
