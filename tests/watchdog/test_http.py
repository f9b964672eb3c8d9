"""The HTTP face: health and metrics, routing, and the same app for ASGI hosts."""

from __future__ import annotations

import io
import json
from collections.abc import MutableMapping
from typing import Any

import aiohttp
from aiohttp import web
from structlog.testing import capture_logs

from orchestrator.livekit.webhooks import MAX_BODY_BYTES
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


async def post(url: str, body: bytes, auth: str | None) -> int:
    """Post a large body (streamed: aiohttp warns of raw bytes this large)."""
    headers = {"Authorization": auth} if auth is not None else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=io.BytesIO(body), headers=headers) as reply,
    ):
        return reply.status


async def test_a_body_too_large_is_refused_counted_and_logged(world: World) -> None:
    """Over `MAX_BODY_BYTES`, served by aiohttp (also mounted in an application with its
    own, smaller, body limit) or ASGI: 400 refused_malformed, or 401 refused_unsigned
    without Authorization; counted either way, never a bare 413."""
    dog = await world.watchdog()
    host = web.Application(client_max_size=1024)
    host.add_subapp("/livekit/", aiohttp_app(dog))
    runner, base = await serve(host)
    body = b"x" * (MAX_BODY_BYTES + 1)
    urls = [world.urls[id(dog)], f"{base}/livekit/webhook"]
    try:
        with capture_logs() as logs:
            for url in urls:
                assert await post(url, body, sign(body)) == 400
                assert await post(url, body, None) == 401
            app = asgi_app(dog)
            assert (await asgi_call(app, "POST", "/webhook", body, sign(body)))[0] == 400
            assert (await asgi_call(app, "POST", "/webhook", body))[0] == 401
    finally:
        await runner.cleanup()
    assert dog.metrics.get("webhooks", "refused_malformed") == 3
    assert dog.metrics.get("webhooks", "refused_unsigned") == 3
    refused = [e["why"] for e in logs if e["event"] == "watchdog.webhook_refused"]
    assert refused == ["malformed", "unsigned"] * 3
