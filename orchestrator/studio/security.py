"""Who may talk to the studio: the page it served, on the address it served it from.

* Host: only the names the studio answers to (DNS rebinding gives an attacker's page our
  address under its own name; its Host header gives it away). Bound to every interface
  (0.0.0.0, ::), the studio cannot know its names and relies on the token.
* Origin and Sec-Fetch-Site: a request a browser sends from another site is refused.
* POST bodies must be JSON (a cross-site form cannot send that without a preflight).
* Token (required when bound to another address than loopback): the `X-Studio-Token` header
  or the `studio_token` cookie, which `/?token=...` sets; compared in constant time.
* Every answer carries a Content-Security-Policy that allows only the studio's own scripts.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

__all__ = ["COOKIE", "HEADER", "Guard", "is_loopback"]

COOKIE = "studio_token"
HEADER = "X-Studio-Token"

_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _refuse(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@dataclass
class Guard:
    host: str
    port: int
    """The port actually bound (set once listening when asked for port 0)."""
    token: str | None = None

    def hosts(self) -> set[str]:
        """The Host header values the studio answers to."""
        names = {self.host}
        if is_loopback(self.host):
            names |= {"127.0.0.1", "localhost", "[::1]"}
        if ":" in self.host and not self.host.startswith("["):
            names.add(f"[{self.host}]")
        ports = {"", f":{self.port}"} if self.port == 80 else {f":{self.port}"}
        return {name + port for name in names for port in ports}

    def _any_host(self) -> bool:
        return self.host in ("0.0.0.0", "::", "")

    def _token_ok(self, request: web.Request) -> bool:
        if self.token is None:
            return True
        given = request.headers.get(HEADER) or request.cookies.get(COOKIE) or ""
        return hmac.compare_digest(given.encode(), self.token.encode())

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await self._check(request, handler)
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    async def _check(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host", "")
        if not self._any_host() and host not in self.hosts():
            return _refuse(421, f"this studio answers as http://{sorted(self.hosts())[0]} only")
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"http://{host}":
            return _refuse(403, "requests from another site are refused")
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return _refuse(403, "requests from another site are refused")
        if request.method not in ("GET", "HEAD", "POST"):
            return _refuse(405, "the studio answers GET and POST only")
        if request.method == "POST" and request.content_type != "application/json":
            return _refuse(415, "send JSON (Content-Type: application/json)")
        if self.token is not None:
            given = request.query.get("token")
            if request.path == "/" and given is not None:
                return self._login(given)
            if not self._token_ok(request):
                return _refuse(
                    401, "this studio needs its token: open the URL it printed when it started"
                )
        return await handler(request)

    def _login(self, given: str) -> web.StreamResponse:
        """`/?token=...`: the cookie set, and the token taken out of the address bar."""
        assert self.token is not None
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return _refuse(401, "wrong token: open the URL the studio printed when it started")
        response = web.Response(status=303, headers={"Location": "/"})
        response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict", path="/")
        return response
