"""Helpers for sandbox tests: every test talks to it through the real `livekit.api` client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from livekit import api

from orchestrator.sandbox import Event, Sandbox

T = TypeVar("T")


def dial_request(number: str = "+15105550100", **fields: Any) -> api.CreateSIPParticipantRequest:
    values: dict[str, Any] = {
        "sip_trunk_id": "ST_sandbox",
        "sip_call_to": number,
        "room_name": "consult",
        "participant_identity": "sup-1",
        "wait_until_answered": True,
    }
    values.update(fields)
    return api.CreateSIPParticipantRequest(**values)


async def run_for(sandbox: Sandbox, seconds: float, call: Awaitable[T]) -> T:
    """Send `call`, let simulated time run `seconds` once it reached its handler, await it."""
    before = sandbox.started
    task = asyncio.ensure_future(call)
    await sandbox.wait_for(lambda: sandbox.started > before or task.done())
    await sandbox.manual_clock.advance(seconds)
    return await task


def record_events(sandbox: Sandbox) -> list[Event]:
    events: list[Event] = []
    sandbox.subscribe(events.append)
    return events
