"""`Sandbox`: a local LiveKit server speaking the real API, for tests, benchmarks and dry runs.

```python
async with Sandbox(scenario) as sandbox:
    api = LiveKitAPI(sandbox.url, sandbox.api_key, sandbox.api_secret)
    caller = sandbox.place_caller("call-1")
    ...
```
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from livekit.protocol import models, sip as sip_pb

from orchestrator.clock import Clock, ManualClock, RealClock
from orchestrator.sandbox.core import Core, Flavor
from orchestrator.sandbox.legs import Legs, PhoneLog
from orchestrator.sandbox.scenario import FaultSpec, Scenario
from orchestrator.sandbox.server import Faults, Recorder, make_app
from orchestrator.sandbox.state import Event, RoomState, World, new_id
from orchestrator.sandbox.webhooks import WebhookSender

__all__ = ["Sandbox"]

_SANDBOX_HOST = "sip.sandbox.invalid"


class Sandbox:
    """One sandbox server. Use as an async context manager, or call `start()` / `stop()`."""

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        api_key: str = "devkey",
        api_secret: str = "secret",
        flavor: Flavor = "cloud",
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        record: str | Path | None = None,
        webhook: str | None = None,
    ) -> None:
        self.scenario = scenario or Scenario()
        self.api_key = api_key
        self.api_secret = api_secret
        self.flavor: Flavor = flavor
        self.host = host
        self.port = port
        self.clock: Clock = clock or RealClock(self.scenario.speed)
        if self.scenario.now is not None and hasattr(self.clock, "epoch"):
            # The scenario's moment is this clock's now: what the engines it serves read
            # as the wall time (`clock.wall_time`), and the server's `joined_at` stamps.
            self.clock.epoch = self.scenario.now.timestamp() - self.clock.now()
        self._record_path = str(record) if record else None
        self._webhook_url = webhook
        self._runner: web.AppRunner | None = None
        self._callers = itertools.count(1)

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        self.world = World(self.clock)
        self.legs = Legs(self.world, self.scenario)
        trunk = self.scenario.trunk
        self.core = Core(self.world, self.scenario, self.clock, self.flavor, self.legs)
        self.core.trunks[trunk.id] = sip_pb.SIPOutboundTrunkInfo(
            sip_trunk_id=trunk.id, name="sandbox", address=_SANDBOX_HOST, numbers=trunk.numbers
        )
        self.recorder = Recorder(self._record_path)
        self.faults = Faults(list(self.scenario.faults))
        self.webhooks = None
        if self._webhook_url:
            self.webhooks = WebhookSender(self._webhook_url, self.api_key, self.api_secret)
            self.world.subscribers.append(self.webhooks)
            self.webhooks.start()
        app = make_app(self.core, self.api_key, self.api_secret, self.recorder, self.faults)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = self._runner.addresses
        self.port = int(sockets[0][1])

    async def stop(self) -> None:
        if self._runner is None:
            return
        self.legs.close()  # ends calls first, so handlers waiting on them answer at once
        for _ in range(5):  # ...and let those answers go out before anything is cancelled
            await asyncio.sleep(0)
        await self.world.close()
        await self._runner.cleanup()
        self._runner = None
        if self.webhooks is not None:
            await self.webhooks.stop()
        self.recorder.close()

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- scenario control ---------------------------------------------------------------

    def place_caller(self, room: str | None = None, number: str | None = None) -> str:
        """Put the scenario's inbound caller in a room (created if needed); returns its identity.

        The caller is a SIP participant whose `sip.phoneNumber` is the caller's number. With
        `caller.hangup_after` in the scenario, the caller hangs up that many seconds later.
        """
        room = room or f"call-{next(self._callers)}"
        caller = self.scenario.caller
        leg = self.legs.place_caller(room, number or caller.number, caller.hangup_after)
        return leg.identity

    def add_agent(self, room: str, identity: str = "agent") -> None:
        """Put an AI agent participant (kind AGENT) in a room, as a worker's job would, with
        the audio track its voice and hold audio play on."""
        info = models.ParticipantInfo(
            identity=identity, name="AI agent", kind=models.ParticipantInfo.Kind.AGENT
        )
        track = models.TrackInfo(sid=new_id("TR_"), type=models.TrackType.AUDIO, name="agent")
        track.source = models.TrackSource.MICROPHONE
        info.tracks.append(track)
        self.world.join(room, info)
        self.world.emit("track_published", room, participant=info)

    def hears(self, room: str, listener: str, speaker: str) -> bool:
        """Whether `listener` is subscribed to any audio `speaker` publishes in `room`."""
        who, said = self.world.member(room, listener), self.world.member(room, speaker)
        if who is None or said is None or "*" in who.unsubscribed:
            return False
        if not who.info.permission.can_subscribe:  # wanted subscriptions wait for it
            return False
        return any(track.sid not in who.unsubscribed for track in said.info.tracks)

    def remove(self, room: str, identity: str) -> None:
        """A participant disconnects by itself (reason CLIENT_INITIATED)."""
        if self.world.member(room, identity) is not None:
            self.world.leave(room, identity, models.DisconnectReason.CLIENT_INITIATED)

    def unpublish(self, room: str, identity: str) -> None:
        """A participant stops publishing every track and stays connected (a worker's job
        that goes quiet after the merge, following the call)."""
        member = self.world.member(room, identity)
        if member is not None:
            for _ in member.info.tracks:
                self.world.emit("track_unpublished", room, participant=member.info)
            del member.info.tracks[:]

    def hang_up(self, room: str, identity: str) -> None:
        """The phone at the far end of a SIP leg hangs up."""
        self.legs.hang_up(room, identity)

    def reconnect(self, room: str, identity: str) -> None:
        """A SIP leg's participant is closed by the server and joins again at once, as the
        real SIP bridge does after a failed WebRTC negotiation: it leaves (`STATE_MISMATCH`)
        and joins under the same identity with a new sid and a new track, without the
        attributes the API wrote, subscribed to every track (once the call is connected).
        The phone call goes on."""
        self.legs.reconnect(room, identity)

    def add_fault(self, rpc: str, code: str, *, times: int = 1, **extra: Any) -> None:
        """Make the next `times` calls of `rpc` (like "SIP.CreateSIPParticipant") fail."""
        self.faults.add(FaultSpec(rpc=rpc, code=code, times=times, **extra))

    # -- observation --------------------------------------------------------------------

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call `callback` with every room event; returns a function that unsubscribes."""
        self.world.subscribers.append(callback)
        return lambda: self.world.subscribers.remove(callback)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait, without polling, until `predicate()` is true after some change."""
        await self.world.wait_for(predicate)

    @property
    def phone_logs(self) -> list[PhoneLog]:
        """What every phone received, one `PhoneLog` per SIP leg in the order they began:
        the INVITEs that rang a supervisor (and the From they showed), the CANCEL or BYE
        that ended a call, the REFER of a cold transfer."""
        return list(self.legs.logs)

    @property
    def started(self) -> int:
        """How many requests have reached their handler (recorded ones have also finished)."""
        return self.core.started

    def room(self, name: str) -> RoomState | None:
        return self.world.rooms.get(name)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request received so far, as recorded (`rpc`, `request`, `room`, `code`...)."""
        return self.recorder.entries

    @property
    def manual_clock(self) -> ManualClock:
        if not isinstance(self.clock, ManualClock):
            raise TypeError("this sandbox runs on a real clock; pass clock=ManualClock()")
        return self.clock
