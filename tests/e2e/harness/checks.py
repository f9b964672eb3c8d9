"""What the conformance checks share: normalized answers, a dial, and waits with deadlines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

from livekit import api

from tests.e2e.harness.targets import CALLER, SUPERVISOR, Target

__all__ = ["PREFIX", "Answer", "answer", "dial", "left", "settled", "statuses"]

PREFIX = "twirp error unknown: "


@dataclass(frozen=True)
class Answer:
    code: str
    status: int
    message: str
    sip_status: int | None
    seconds: float


async def answer(call: Any) -> Answer:
    """The error (or `ok`) a request got, normalized for comparison."""
    started = time.monotonic()
    try:
        await call
    except api.TwirpError as error:
        sip = error.sip_status_code if isinstance(error, api.SipCallError) else None
        took = round(time.monotonic() - started, 1)
        return Answer(error.code, error.status, error.message, sip, took)
    return Answer("ok", 200, "", None, round(time.monotonic() - started, 1))


def dial(
    target: Target,
    room: str,
    number: str = SUPERVISOR,
    *,
    identity: str = "supervisor",
    caller_id: str = CALLER,
    ring: float = 3.0,
    wait: bool = True,
) -> Any:
    request = api.CreateSIPParticipantRequest(
        sip_trunk_id=target.trunk,
        sip_call_to=number,
        sip_number=caller_id,
        room_name=room,
        participant_identity=identity,
        participant_attributes={"transfer.role": "supervisor"},
        wait_until_answered=wait,
    )
    request.ringing_timeout.FromNanoseconds(int(ring * 1e9))
    return target.lk.sip.create_sip_participant(request, timeout=ring + 10)


def statuses(target: Target, identity: str) -> list[str]:
    """The `sip.callStatus` values `identity` went through (at its join, then each change)."""
    seen: list[str] = []
    for kind, who, detail in target.events:
        if who == identity and kind in ("joined", "attributes"):
            status = json.loads(detail).get("sip.callStatus")
            if status and (not seen or seen[-1] != status):
                seen.append(status)
    return seen


async def left(target: Target, room: str, identity: str) -> None:
    async def gone() -> bool:
        listing = await target.lk.room.list_participants(api.ListParticipantsRequest(room=room))
        return all(p.identity != identity for p in listing.participants)

    deadline = time.monotonic() + 10
    while not await gone():
        assert time.monotonic() < deadline, f"{identity} still in {room}"
        await asyncio.sleep(0.05)


async def settled(target: Target, expected: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """What the supervisors' phones received, once it is `expected` (or after 10 s)."""
    with contextlib.suppress(TimeoutError):
        await target.until(
            lambda: [c.received for c in target.supervisor_calls()] == expected,
            10,
            "the phones' messages",
        )
    return [c.received for c in target.supervisor_calls()]
