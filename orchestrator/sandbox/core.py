"""What every RPC handler works on, and the registry that maps Twirp routes to handlers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from google.protobuf.message import Message
from livekit.protocol import sip as sip_pb

from orchestrator.clock import Clock
from orchestrator.sandbox.auth import Grants
from orchestrator.sandbox.scenario import Scenario
from orchestrator.sandbox.state import World

if TYPE_CHECKING:
    from orchestrator.sandbox.legs import Legs

__all__ = ["HANDLERS", "Core", "Flavor", "handler"]

Flavor = Literal["cloud", "oss"]
Handler = Callable[["Core", Grants, Any], Awaitable[Message]]
HANDLERS: dict[tuple[str, str], Handler] = {}


@dataclass
class Core:
    """The sandbox's state, scenario and clock, shared by every handler."""

    world: World
    scenario: Scenario
    clock: Clock
    flavor: Flavor
    legs: Legs
    trunks: dict[str, sip_pb.SIPOutboundTrunkInfo] = field(default_factory=dict)
    started: int = 0
    """How many requests have passed auth and decoding and reached their handler."""
    requests: set[asyncio.Task[Any]] = field(default_factory=set)
    """The work of requests in flight."""
    parked_tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @contextlib.contextmanager
    def parked(self) -> Iterator[None]:
        """Mark the current request as waiting on simulated time (a ringing phone...)."""
        task = asyncio.current_task()
        assert task is not None
        self.parked_tasks.add(task)
        try:
            yield
        finally:
            self.parked_tasks.discard(task)

    @property
    def idle(self) -> bool:
        """True when every request in flight waits on simulated time, so time may move."""
        return self.requests <= self.parked_tasks


def handler(service: str, method: str) -> Callable[[Handler], Handler]:
    """Register the implementation of `livekit.<service>/<method>`."""

    def register(fn: Handler) -> Handler:
        HANDLERS[(service, method)] = fn
        return fn

    return register
