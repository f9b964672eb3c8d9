"""The HTTP face: health and metrics, routing, and the same app for ASGI hosts."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

import aiohttp
from aiohttp import web

from orchestrator.watchdog import Watchdog, aiohttp_app, asgi_app
from tests.watchdog.conftest import World, serve, sign


async def test_health_and_metrics(world: World) -> None:
    dog = await world.watchdog()
    await world.post(dog, b"{}", None)  # refused: counted
    base = world.urls[id(dog)].removesuffix("/webhook")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/healthz") as reply:
            assert reply.status == 200
            health = await reply.json()
        async with session.get(f"{base}/metrics") as reply:
            assert reply.status == 200
            metrics = await reply.text()
        async with session.get(f"{base}/webhook") as reply:
            assert reply.status == 405
        async with session.get(f"{base}/nothing") as reply:
            assert reply.status == 404
    assert health == {
        "status": "ok",
        "agent_name": "support",
        "handling": 0,
        "counts": {"webhooks.refused_unsigned": 1},
    }
    assert 'orchestrator_watchdog_webhooks_total{result="refused_unsigned"} 1' in metrics
    assert "orchestrator_watchdog_dispatch_failures_total 0" in metrics


async def test_mounted_in_an_aiohttp_application(world: World) -> None:
    """Under a prefix, as a sub-application of the user's own app."""
    dog = await world.watchdog()
    host = web.Application()
    host.add_subapp("/livekit/", aiohttp_app(dog))
    runner, base = await serve(host)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/livekit/healthz") as reply:
                assert reply.status == 200
            body = b'{"event": "room_started", "room": {"name": "x"}}'
            async with session.post(
                f"{base}/livekit/webhook", data=body, headers={"Authorization": sign(body)}
            ) as reply:
                assert (reply.status, await reply.json()) == (200, {"result": "ignored"})
    finally:
        await runner.cleanup()


async def asgi_call(
    app: Any, method: str, path: str, body: bytes = b"", auth: str | None = None
) -> tuple[int, bytes]:
    headers = [(b"authorization", auth.encode())] if auth else []
    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    chunks = [body[:5], body[5:]]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], sent[1]["body"]


async def test_asgi_app(world: World) -> None:
    dog: Watchdog = await world.watchdog()
    app = asgi_app(dog)
    status, body = await asgi_call(app, "GET", "/healthz")
    assert status == 200
    assert json.loads(body)["status"] == "ok"
    forged = b'{"event": "participant_left"}'
    status, body = await asgi_call(app, "POST", "/webhook", forged, sign(b"other"))
    assert (status, json.loads(body)) == (401, {"result": "refused_forged"})
    await app({"type": "lifespan"}, None, None)  # not ours: ignored
