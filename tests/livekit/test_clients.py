"""The process's HTTP clients: one pair per event loop and server, tokens signed once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from livekit import api

from orchestrator import TransferEngine
from orchestrator.livekit import clients
from orchestrator.livekit.clients import RESIGN_BEFORE_S, acquire, release
from orchestrator.sandbox import Sandbox, Scenario
from orchestrator.testing import RecordingMedia


async def test_engines_of_one_loop_share_clients_until_the_last_closes() -> None:
    first = TransferEngine("http://127.0.0.1:9", "key", "secret", media=RecordingMedia())
    second = TransferEngine("http://127.0.0.1:9", "key", "secret", media=RecordingMedia())
    other = TransferEngine("http://127.0.0.1:9", "key2", "secret", media=RecordingMedia())
    assert first.gateway.client is second.gateway.client
    assert first.gateway.dialer is second.gateway.dialer
    assert first.gateway.client is not first.gateway.dialer
    assert other.gateway.client is not first.gateway.client
    session = first.gateway.client._session
    assert session is not None
    await first.aclose()
    assert not session.closed  # the second engine still uses it
    await second.aclose()
    assert session.closed
    await other.aclose()


async def test_dials_have_no_connection_limit_and_the_rest_a_pool() -> None:
    shared = acquire("http://127.0.0.1:9", "key", "secret")
    try:
        assert shared.dials._session is not None
        assert shared.calls._session is not None
        assert shared.dials._session.connector is not None
        assert shared.calls._session.connector is not None
        assert shared.dials._session.connector.limit == 0
        assert shared.calls._session.connector.limit == 100
    finally:
        await release(shared)


def test_another_loop_gets_its_own_clients() -> None:
    async def one() -> Any:
        shared = acquire("http://127.0.0.1:9", "key", "secret")
        await release(shared)
        return shared

    assert asyncio.run(one()) is not asyncio.run(one())


async def test_a_token_is_signed_once_per_grant_set_until_near_expiry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shared = acquire("http://127.0.0.1:9", "key", "secret-0123456789abcdefghijklmnopqrstuv")
    signed: list[str] = []
    original = api.AccessToken.to_jwt

    def counted(self: api.AccessToken) -> str:
        token = original(self)
        signed.append(token)
        return token

    monkeypatch.setattr(api.AccessToken, "to_jwt", counted)
    try:
        room: Any = shared.calls.room
        admin = api.VideoGrants(room_admin=True, room="call-1")
        first = room._auth_header(admin)
        assert room._auth_header(api.VideoGrants(room_admin=True, room="call-1")) == first
        assert len(signed) == 1
        other = room._auth_header(api.VideoGrants(room_admin=True, room="call-2"))
        assert other != first
        assert len(signed) == 2
        lifetime = api.AccessToken("k", "s").ttl.total_seconds()
        later = time.monotonic() + lifetime - RESIGN_BEFORE_S + 1
        monkeypatch.setattr(clients.time, "monotonic", lambda: later)
        room._auth_header(admin)
        assert len(signed) == 3  # near expiry: signed again
    finally:
        await release(shared)


async def test_the_engines_of_one_loop_probe_once() -> None:
    secret = "secret-0123456789abcdefghijklmnopqrstuv"
    async with Sandbox(Scenario(), api_secret=secret) as sandbox:
        engines = [
            TransferEngine(sandbox.url, sandbox.api_key, secret, media=RecordingMedia())
            for _ in range(3)
        ]
        try:
            found = await asyncio.gather(*(engine.capabilities() for engine in engines))
            assert len(set(found)) == 1
            assert await engines[0].capabilities() == found[0]  # still known later
        finally:
            for engine in engines:
                await engine.aclose()
    probes = [r for r in sandbox.requests if r["rpc"] == "RoomService.MoveParticipant"]
    assert len(probes) == 1
