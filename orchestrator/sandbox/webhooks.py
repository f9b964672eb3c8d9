"""Signed webhooks, posted the way LiveKit posts them.

The body is protobuf JSON of a `WebhookEvent` (lowerCamelCase); `Authorization` is the raw JWT
(no `Bearer `) whose `sha256` claim is the base64 SHA-256 of exactly the bytes sent, so
`livekit.api.WebhookReceiver` verifies it. Events of a sandbox are delivered in order, each
retried a few times if the receiver fails.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import time

import aiohttp
from google.protobuf import json_format
from livekit.api import AccessToken
from livekit.protocol import webhook as pb

from orchestrator.sandbox.state import Event, new_id

__all__ = ["WEBHOOK_EVENTS", "WebhookSender"]

WEBHOOK_EVENTS = frozenset(
    {
        *("room_started", "room_finished", "participant_joined", "participant_left"),
        *("track_published", "track_unpublished"),
    }
)


class WebhookSender:
    def __init__(self, url: str, api_key: str, api_secret: str) -> None:
        self.url = url
        self.api_key = api_key
        self.api_secret = api_secret
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.delivered = 0
        self.failed = 0
        self._task: asyncio.Task[None] | None = None

    def __call__(self, event: Event) -> None:
        if event.kind not in WEBHOOK_EVENTS:
            return
        message = pb.WebhookEvent(event=event.kind, id=new_id("EV_"), created_at=int(time.time()))
        if event.room_info is not None:
            message.room.CopyFrom(event.room_info)
        if event.participant is not None:
            message.participant.CopyFrom(event.participant)
        self.queue.put_nowait(json_format.MessageToJson(message, indent=None).encode())

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._deliver())

    async def stop(self) -> None:
        """Deliver what is queued (briefly), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.join(), timeout=5)
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    def _token(self, body: bytes) -> str:
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        token = AccessToken(self.api_key, self.api_secret).with_sha256(digest)
        return token.with_ttl(datetime.timedelta(minutes=5)).to_jwt()

    async def _deliver(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while True:
                body = await self.queue.get()
                headers = {
                    "Content-Type": "application/webhook+json",
                    "Authorization": self._token(body),
                    "User-Agent": "LiveKit",
                }
                for attempt in range(3):
                    try:
                        async with session.post(self.url, data=body, headers=headers) as reply:
                            if reply.status < 300:
                                self.delivered += 1
                                break
                    except (aiohttp.ClientError, TimeoutError):
                        pass
                    await asyncio.sleep(0.05 * 2**attempt)
                else:
                    self.failed += 1
                self.queue.task_done()
