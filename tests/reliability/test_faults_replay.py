"""A8 and A14: the SDK's failover replay of a dial, and the dial's request timeout.

LiveKit SIP does not deduplicate `CreateSIPParticipant`, and `livekit-api` replays a request
that failed with a 5xx or a transport error (same body, same `X-Livekit-Request-Id`). The
engine's gateway turns failover off for that reason; these cases check it from the outside
(the sandbox records one dial request per attempt), and check that a replay, were one ever to
happen, rings once (the sandbox deduplicates per request id, as LiveKit Cloud does).

A14 cannot run as a timing test: the client's request timeout is real (aiohttp) time while the
sandbox runs on the manual clock, so a spurious client-side timeout cannot be provoked without
real waiting. The case instead reads the timeout the gateway passes for each dial.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest
from livekit import api
from livekit.api.sip_service import SipService
from livekit.api.twirp_client import TwirpClient

from tests.reliability.cases import DIAL, fault
from tests.reliability.harness import API_KEY, SECRET, flow, warm
from tests.reliability.rig import Rig


@pytest.mark.parametrize("code", ["unavailable", "internal", "unknown"])
async def test_a_5xx_dial_is_never_replayed_by_the_sdk(code: str) -> None:
    """A8: the first answer is a 5xx but the call was placed: one request, one INVITE."""
    async with Rig({"faults": [fault(DIAL, code, lose_response=True)]}, fault=f"A8-{code}") as rig:
        outcome = await rig.run(warm())
        assert outcome.kind == "merged"
        assert len(rig.dials()) == 1
        assert len(rig.monitor.invites) == 1


def _dial_request(rig: Rig) -> api.CreateSIPParticipantRequest:
    request = api.CreateSIPParticipantRequest(
        sip_trunk_id="ST_sandbox",
        sip_call_to="+15105550100",
        room_name="consult-replay",
        participant_identity="supervisor-replay-1",
        wait_until_answered=True,
    )
    request.ringing_timeout.FromSeconds(20)
    return request


async def test_the_same_request_id_posted_twice_rings_once() -> None:
    """A8 at the wire: two POSTs with one `X-Livekit-Request-Id` are one INVITE."""
    async with Rig(fault="A8-raw-double-post") as rig:
        request = _dial_request(rig)
        token = api.AccessToken(API_KEY, SECRET).with_sip_grants(api.SIPGrants(call=True)).to_jwt()
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/protobuf",
            "X-Livekit-Request-Id": str(uuid.uuid4()),
        }
        url = f"{rig.sandbox.url}/twirp/livekit.SIP/CreateSIPParticipant"
        async with aiohttp.ClientSession() as session:

            async def post() -> int:
                body = request.SerializeToString()
                async with session.post(url, data=body, headers=headers) as answer:
                    await answer.read()
                    return answer.status

            first = asyncio.ensure_future(post())
            second = asyncio.ensure_future(post())
            await rig.run_until(asyncio.ensure_future(asyncio.gather(first, second)))
        assert (first.result(), second.result()) == (200, 200)
        assert len([r for r in rig.sandbox.requests if r["rpc"] == DIAL]) == 2
        rig.one_invite()


async def test_the_sdk_failover_replay_rings_once() -> None:
    """A8 through the SDK: failover forced on, the first answer lost as a 503; the replay
    gets the first call's answer, and only one phone rings."""
    scenario = {"faults": [fault(DIAL, "unavailable", lose_response=True)]}
    async with Rig(scenario, fault="A8-sdk-failover-replay") as rig:
        client = api.LiveKitAPI(rig.sandbox.url, API_KEY, SECRET)
        sip_client: Any = client.sip
        sip_client._client = TwirpClient(
            client._session,
            rig.sandbox.url,
            "livekit",
            failover=True,
            _failover_force=True,
            _failover_backoff=0.0,
        )
        try:
            dialing = asyncio.ensure_future(client.sip.create_sip_participant(_dial_request(rig)))
            await rig.run_until(dialing)
        finally:
            await client.aclose()
        assert dialing.result().participant_identity == "supervisor-replay-1"
        assert len([r for r in rig.sandbox.requests if r["rpc"] == DIAL]) == 2  # replayed...
        rig.one_invite()  # ...and rang once


async def test_dials_go_through_a_client_without_failover() -> None:
    """A8: the gateway's client never replays (a static guard for the case above)."""
    async with Rig() as rig:
        service: Any = rig.engine.gateway.client.sip
        assert service._client._failover is False


@pytest.mark.parametrize("ring", [5, 25, 300])
async def test_the_dial_request_outlasts_the_ring(
    monkeypatch: pytest.MonkeyPatch, ring: int
) -> None:
    """A14: the request timeout the gateway gives each dial is above its ring timeout."""
    seen: list[float | None] = []
    original = SipService.create_sip_participant

    async def spy(self: Any, create: Any, **options: Any) -> Any:
        if create.sip_call_to:  # not the engine's grant probe, which dials nobody
            seen.append(options.get("timeout"))
        return await original(self, create, **options)

    monkeypatch.setattr(SipService, "create_sip_participant", spy)
    ringing = flow("warm_transfer", ("ring_timeout: 25", f"ring_timeout: {ring}"))
    async with Rig(fault=f"A14-ring-{ring}") as rig:
        await rig.run(ringing)
        (timeout,) = seen
        assert timeout is not None
        assert timeout >= ring + 5
        (dial,) = rig.dials()
        assert dial["ringing_timeout"] == f"{ring}s"
