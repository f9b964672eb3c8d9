"""What a LiveKit deployment lets the engine do, asked without changing anything.

Three requests that name nobody and nothing, sent together: a MoveParticipant, a DeleteRoom
(`not_found` with the roomCreate grant), and a CreateSIPParticipant with no callee
(`invalid_argument` with the sip.call grant: the server checks the grant first, then refuses
the request, so nothing is dialled). A missing grant answers `unauthenticated` (HTTP 401).

LiveKit Cloud answers the move `not_found`. The open-source server (v1.13.5, checked against
it by the e2e conformance suite) routes a move to the node of the participant it names;
nobody claims a participant that does not exist, so after about 3 s of retries it answers
`unavailable`, "no response from servers" (a participant who exists gets "not implemented").
Either answer means: no MoveParticipant here.

The answer is kept for `CAPABILITIES_TTL_S` per event loop, server and API key: the engines of
a worker's jobs probe once between them, however many transfers start at once.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from livekit import api

from orchestrator.errors import LiveKitError
from orchestrator.livekit.gateway import Gateway

__all__ = ["CAPABILITIES_TTL_S", "PROBE", "Capabilities", "capabilities", "known", "probe"]

PROBE = "orchestrator-preflight-probe"
"""The room and participant identity the probes name; nothing ever has that name."""


@dataclass(frozen=True)
class Capabilities:
    move: bool
    """MoveParticipant exists (LiveKit Cloud) and the API key may use it."""
    missing: frozenset[str]
    """Grants the API key lacks, of `roomAdmin`, `roomCreate` and `sip.call`."""


CAPABILITIES_TTL_S = 300.0
"""How long a probe's answer is believed (a key's grants can change)."""

_Probes = dict[tuple[str, str, str], tuple[float, "asyncio.Future[Capabilities]"]]
_PROBES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Probes] = (
    weakref.WeakKeyDictionary()
)


def known(gateway: Gateway) -> Capabilities | None:
    """The capabilities this loop has already found for the gateway's server and
    credentials."""
    asked = _PROBES.get(asyncio.get_running_loop(), {}).get(gateway.key)
    if asked is None or asked[0] < time.monotonic() or not asked[1].done():
        return None
    answer = asked[1]
    return None if answer.cancelled() or answer.exception() else answer.result()


async def capabilities(gateway: Gateway, log: Any) -> Capabilities:
    """`probe`, once per event loop, server and credentials for `CAPABILITIES_TTL_S`; asked
    again after a failure."""
    mine = _PROBES.setdefault(asyncio.get_running_loop(), {})
    asked = mine.get(gateway.key)
    if asked is None or asked[0] < time.monotonic():
        future = asyncio.ensure_future(probe(gateway, log))
        # Seen here: a probe nobody awaits any more (its engine closed) must not warn.
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        asked = mine[gateway.key] = (time.monotonic() + CAPABILITIES_TTL_S, future)
    try:
        return await asyncio.shield(asked[1])
    except Exception:
        if mine.get(gateway.key) is asked:
            del mine[gateway.key]
        raise


async def probe(gateway: Gateway, log: Any) -> Capabilities:
    """Raises `LiveKitError` (or a transport error) when the server cannot answer."""
    client = gateway.client
    move = api.MoveParticipantRequest(room=PROBE, identity=PROBE, destination_room=PROBE + "-2")
    delete = api.DeleteRoomRequest(room=PROBE)
    dial = api.CreateSIPParticipantRequest(participant_identity=PROBE)
    asked: dict[str, Callable[[], Awaitable[Any]]] = {
        "RoomService.MoveParticipant": partial(client.room.move_participant, move),
        "RoomService.DeleteRoom": partial(client.room.delete_room, delete),
        "SIP.CreateSIPParticipant": partial(client.sip.create_sip_participant, dial),
    }
    moving, creating, calling = await asyncio.gather(
        *(_answer(gateway, log, rpc, make) for rpc, make in asked.items())
    )
    missing = {
        grant
        for grant, answer in (
            ("roomAdmin", moving),
            ("roomCreate", creating),
            ("sip.call", calling),
        )
        if answer == "denied"
    }
    return Capabilities(move=moving == "yes", missing=frozenset(missing))


async def _answer(gateway: Gateway, log: Any, rpc: str, make: Callable[[], Awaitable[Any]]) -> str:
    """`yes` (only the nobody named was refused), `denied` (a grant), or `absent` (no method)."""
    try:
        await gateway.call(log, rpc, make)
    except LiveKitError as error:
        if error.denied:
            return "denied"
        if error.code == "unimplemented" or "not implemented" in str(error):
            return "absent"
        if rpc == "RoomService.MoveParticipant" and _unclaimed(error):
            return "absent"
        if error.code in ("not_found", "invalid_argument"):
            return "yes"
        raise
    return "yes"


def _unclaimed(error: LiveKitError) -> bool:
    """The open-source server's answer to a call for a participant no node has."""
    return error.code == "unavailable" and "no response from servers" in str(error)
