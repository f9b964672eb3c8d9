"""The watchdog over HTTP: `POST /webhook` (LiveKit's), `GET /healthz`, `GET /metrics`.

Mount it in your own web application, or let `orchestrator watchdog` serve it:

* aiohttp: `app.add_subapp("/livekit", aiohttp_app(watchdog))`, or serve it as is;
* ASGI (Starlette, FastAPI, ...): `app.mount("/livekit", asgi_app(watchdog))`.

Either way the watchdog must be started (`await watchdog.start()`) in the application's
startup and closed (`await watchdog.aclose()`) in its shutdown.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from aiohttp import web

from orchestrator.livekit.webhooks import MAX_BODY_BYTES
from orchestrator.watchdog.watchdog import Watchdog

__all__ = ["aiohttp_app", "asgi_app", "respond"]

Reply = tuple[int, str, bytes]
_JSON = "application/json"


def respond(watchdog: Watchdog, method: str, path: str, auth: str | None, body: bytes) -> Reply:
    """Status, content type and body for one request, whatever serves it."""
    path = "/" + path.strip("/")
    if path == "/webhook":
        if method != "POST":
            return _json(405, {"error": "POST LiveKit's webhooks here"})
        received = watchdog.receive(body, auth)
        return _json(received.status, {"result": received.result})
    if method not in ("GET", "HEAD"):
        return _json(405, {"error": f"{path} answers GET"})
    if path == "/healthz":
        health = {
            "status": "ok",
            "agent_name": watchdog.agent_name,
            "handling": watchdog.busy,
            "counts": watchdog.metrics.snapshot(),
        }
        return _json(200, health)
    if path == "/metrics":
        text = watchdog.metrics.prometheus().encode()
        return 200, "text/plain; version=0.0.4; charset=utf-8", text
    return _json(404, {"error": "not found: try POST /webhook, GET /healthz, GET /metrics"})


def _json(status: int, value: dict[str, Any]) -> Reply:
    return status, _JSON, json.dumps(value).encode()


def aiohttp_app(watchdog: Watchdog) -> web.Application:
    """An aiohttp application serving the watchdog (it does not start or stop it)."""

    async def handle(request: web.Request) -> web.Response:
        body = await _read(request) if request.method == "POST" else b""
        auth = request.headers.get("Authorization")
        path = request.match_info.get("tail", "")  # mounted as a sub-app: after the prefix
        status, kind, payload = respond(watchdog, request.method, path, auth, body)
        return web.Response(status=status, body=payload, headers={"Content-Type": kind})

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def _read(request: web.Request) -> bytes:
    """The body, or its first `MAX_BODY_BYTES + 1` bytes: enough for `receive()` to refuse
    (and count, and log) a body too large as the ASGI path does. Read from the stream, not
    `request.read()`, whose `client_max_size` (the host application's, when mounted) would
    answer 413 before the watchdog saw the request."""
    body = bytearray()
    while len(body) <= MAX_BODY_BYTES:
        chunk = await request.content.read(MAX_BODY_BYTES + 1 - len(body))
        if not chunk:
            break
        body += chunk
    return bytes(body)


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def asgi_app(watchdog: Watchdog) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI 3 application serving the watchdog (it does not start or stop it)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan and websockets are the host application's
        body = bytearray()
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False) and len(body) <= MAX_BODY_BYTES
        headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
        auth = headers["authorization"].decode("latin-1") if "authorization" in headers else None
        path = scope.get("path", "/")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        status, kind, payload = respond(watchdog, scope["method"], path, auth, bytes(body))
        start = {"type": "http.response.start", "status": status}
        start["headers"] = [(b"content-type", kind.encode())]
        await send(start)
        await send({"type": "http.response.body", "body": payload})

    return app
