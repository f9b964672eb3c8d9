"""Hanging up supervisor legs, believed only once LiveKit agrees two ways.

A `not_found` answer from one API can be wrong (a stale node's view): a leg the server still
has would stay live, and the next phone of a chain would ring beside it. So a hang-up answered
`not_found` is checked with GetParticipant and the room's listing, and a leg whose hang-up
failed is hung up before any next dial (or the dial fails).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from orchestrator.clock import Clock
from orchestrator.engine.inflight import DIAL, InFlight, Request
from orchestrator.engine.outcome import Attempt
from orchestrator.engine.retry import TRY_SECONDS
from orchestrator.errors import LiveKitError, TransferError
from orchestrator.livekit import Gateway

__all__ = [
    "Calls",
    "DialState",
    "Dialing",
    "Legs",
    "absent",
    "cancel_dial",
    "dialing",
    "dials",
    "end_leg",
    "hang_up",
    "refused",
    "settle",
]

T = TypeVar("T")
_POLL_S = 0.5  # while a dial cut short may still place its leg: how often to look for it


@dataclass(frozen=True)
class Dialing:
    """What a dial request in the transfer's `InFlight` (`DIAL`) places: the leg
    `identity` in `room` (the request, its deadline and answer are the registry's)."""

    identity: str
    room: str


def dialing(request: Request) -> Dialing:
    """The leg a `DIAL` request places."""
    assert isinstance(request.about, Dialing), request.what
    return request.about


def dials(inflight: InFlight) -> list[Request]:
    """The dial requests in flight, in the order they were placed: several while a ring
    group rings, a group's cancelled ones until their legs are gone, and one cut short by
    the end of its step until cleanup has ended its leg (each is `taken` then)."""
    return inflight.requests(DIAL)


@dataclass
class DialState:
    """A transfer's dialling: its attempts and where each chain is. Written by
    `engine.actions` only (the dial step); cleanup and the outcome read it."""

    attempts: list[Attempt] = field(default_factory=list)
    count: int = 0
    """Attempts made (numbers the supervisor legs' identities)."""
    chain_position: dict[str, int] = field(default_factory=dict)
    """Per dial step, how many of its `to` targets were tried."""
    target_name: str = ""
    """The target of the attempt under way (or the last one)."""
    last_sip_status: int | None = None
    stopping: set[asyncio.Future[None]] = field(default_factory=set)
    """A ring group's other legs being cancelled (CANCEL, or BYE if they answered) while
    the transfer goes on: the engine's own tasks, not requests LiveKit may still apply (the
    dials themselves are in the transfer's `InFlight`); cleanup stops these and ends the
    legs of the dials still there (`dials`)."""


class Calls(Protocol):
    """What asking LiveKit needs: its calls, and the log they are written to."""

    @property
    def gateway(self) -> Gateway: ...

    @property
    def log(self) -> Any: ...


class Legs(Calls, Protocol):
    """A transfer's supervisor legs: the room they are in, and those not hung up yet."""

    unsettled: set[str]
    """Supervisor legs whose hang-up failed: ended before any next dial, or by cleanup."""

    @property
    def leg_room(self) -> str: ...


def refused(error: BaseException | None) -> bool:
    """The phone refused the call (a SIP final response): then there is no leg."""
    return isinstance(error, LiveKitError) and error.sip_status is not None


async def absent(on: Calls, room: str, identity: str) -> bool:
    """Asked two ways: a `not_found` from one API can be wrong (a stale node's view)."""
    if await on.gateway.get_participant(on.log, room, identity) is not None:
        return False
    listed = await on.gateway.list_participants(on.log, room)
    return all(info.identity != identity for info in listed)


async def hang_up(on: Calls, room: str, identity: str) -> None:
    """RemoveParticipant, with a `not_found` answer checked two ways rather than trusted: a
    leg the server still has would stay live (and a next phone would ring beside it)."""
    if await on.gateway.remove_participant(on.log, room, identity):
        return
    if not await absent(on, room, identity):
        raise TransferError(
            "LiveKit answered not_found for a participant it still has",
            reason="cleanup",
            retryable=True,
        )


async def end_leg(t: Legs, identity: str) -> None:
    """Hang up a supervisor leg; if LiveKit fails to, it is hung up before any next dial."""
    try:
        await hang_up(t, t.leg_room, identity)
    except Exception as error:
        t.log.warning("transfer.hang_up_failed", error=type(error).__name__)
        t.unsettled.add(identity)
    else:
        t.unsettled.discard(identity)


async def settle(t: Legs) -> None:
    """No second phone may ring while an earlier leg may still be live: hang those up first,
    or fail the dial (cleanup then deletes the room they are in)."""
    for identity in sorted(t.unsettled):
        await hang_up(t, t.leg_room, identity)
        t.unsettled.discard(identity)


class Stopping(Calls, Protocol):
    """What stopping a dial request in flight needs: the clock and bounded waits."""

    clock: Clock

    async def within(self, seconds: float, work: Awaitable[T]) -> T: ...


async def cancel_dial(t: Stopping, request: Request, give_up: float) -> bool:
    """A dial cut short (a `DIAL` request): the server may still ring or connect its leg.
    It is removed as soon as it shows (a ringing phone gets CANCEL, an answered one BYE),
    and looked for until the request answers or `give_up` (clock time) has passed: only the
    answer says whether the server placed the call. False when the phone refused it (then
    there is no leg); True when a leg may exist, which the caller then hangs up."""
    call, leg = request.future, dialing(request)
    while not call.done() and t.clock.now() < give_up:
        removing = t.gateway.remove_participant(t.log, leg.room, leg.identity)
        with contextlib.suppress(Exception):  # not there yet: not_found, and looked for again
            await t.within(TRY_SECONDS, removing)
        with contextlib.suppress(TimeoutError):
            await t.within(min(_POLL_S, max(give_up - t.clock.now(), 0.0)), asyncio.wait({call}))
    if call.done() and not call.cancelled() and refused(call.exception()):
        return False
    call.cancel()
    return True
