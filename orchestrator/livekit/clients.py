"""The HTTP clients of a process: shared by the engines of one event loop, signing once.

A worker runs one engine per job, often several jobs in one process: they share one pair of
HTTP sessions per event loop and server (so a job does not pay for a TCP and TLS handshake),
closed when the last engine using them closes. The pair:

* `calls`: every request but the long ones, over at most 100 pooled connections;
* `dials`: `CreateSIPParticipant` with `wait_until_answered` and `TransferSIPParticipant`,
  each holding its connection while a phone rings (up to minutes), with no connection limit.
  In one pool, 100 ringing dials would make every other request of every transfer wait for
  a connection, and time out (aiohttp's default limit is 100).

Tokens: livekit-api signs a new JWT for every request. Each service here keeps the token of
each grant set (the same least-privilege grants livekit-api asks for) and signs again only
when it is within `RESIGN_BEFORE_S` of expiry.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass
from typing import Any

import aiohttp
from livekit import api

__all__ = ["REQUEST_TIMEOUT_S", "RESIGN_BEFORE_S", "Clients", "acquire", "release"]

REQUEST_TIMEOUT_S = 10.0
"""How long a request waits for an answer, unless it says otherwise (the SDK's default)."""
RESIGN_BEFORE_S = 60.0
_CALL_CONNECTIONS = 100
_TOKENS_KEPT = 256  # grant sets naming a room make one token per room: forget old ones


@dataclass
class Clients:
    calls: api.LiveKitAPI
    dials: api.LiveKitAPI
    sessions: tuple[aiohttp.ClientSession, ...]  # ours to close (livekit-api leaves them)
    shelf: dict[tuple[str, str, str], Clients]  # where they are shared from
    key: tuple[str, str, str]
    users: int = 0


_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str, str], Clients]]
_SHARED = weakref.WeakKeyDictionary()


def acquire(url: str, api_key: str, api_secret: str) -> Clients:
    """The clients for this server in the running event loop (made if need be); give them
    back with `release`."""
    shelf = _SHARED.setdefault(asyncio.get_running_loop(), {})
    key = (url, api_key, api_secret)
    clients = shelf.get(key)
    if clients is None:
        calls = _session(_CALL_CONNECTIONS)
        dials = _session(0)
        clients = shelf[key] = Clients(
            _client(url, api_key, api_secret, calls),
            _client(url, api_key, api_secret, dials),
            (calls, dials),
            shelf,
            key,
        )
    clients.users += 1
    return clients


async def release(clients: Clients) -> None:
    """One user fewer; the last one closes the sessions."""
    clients.users -= 1
    if clients.users > 0:
        return
    if clients.shelf.get(clients.key) is clients:
        del clients.shelf[clients.key]
    for session in clients.sessions:
        await session.close()


def _session(limit: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
        connector=aiohttp.TCPConnector(limit=limit, limit_per_host=limit),
    )


def _client(
    url: str, api_key: str, api_secret: str, session: aiohttp.ClientSession
) -> api.LiveKitAPI:
    # failover=False: a replayed CreateSIPParticipant would ring a second phone.
    client = api.LiveKitAPI(url, api_key, api_secret, session=session, failover=False)
    for service in (client.room, client.sip, client.agent_dispatch):
        _sign_once(service)
    return client


def _sign_once(service: Any) -> None:
    """Reuse each grant set's token until shortly before it expires."""
    sign = service._auth_header
    tokens: dict[str, tuple[float, dict[str, str]]] = {}
    lifetime = api.AccessToken(service.api_key, service.api_secret).ttl.total_seconds()

    def auth_header(grants: Any, sip: Any = None) -> dict[str, str]:
        key = f"{grants!r}{sip!r}"  # dataclasses: the repr is the whole grant set
        now = time.monotonic()
        known = tokens.get(key)
        if known is None or known[0] <= now:
            if len(tokens) >= _TOKENS_KEPT:
                tokens.clear()
            known = tokens[key] = (now + lifetime - RESIGN_BEFORE_S, sign(grants, sip))
        return known[1]

    service._auth_header = auth_header
