"""The two LiveKits the end-to-end suite runs against, behind one small interface.

* `RealTarget` (`real.py`): livekit-server and livekit-sip (`make stack-up`), with sipp phones.
* `SandboxTarget` (`sandboxed.py`): the project's sandbox (flavor `oss`, real time), with its
  scripted phones.

Both give the test the same things: an API client, the trunk, phones that behave as a
`PhoneSpec` says, what each phone received, who hears whom, and room events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from livekit import api

from orchestrator.engine import TransferEngine
from orchestrator.sandbox.scenario import PhoneSpec
from orchestrator.testing import RecordingMedia
from tests.e2e.harness.deadline import until

__all__ = ["BUSINESS", "CALLER", "CALLER_ID", "SUPERVISOR", "PhoneCall", "RoomEvent", "Target"]

BUSINESS = "+18005550100"
CALLER = "+14155552671"
CALLER_ID = f"sip_{CALLER}"
"""The caller's participant identity (LiveKit's default for an inbound SIP call)."""
SUPERVISOR = "+15105550100"

RoomEvent = tuple[str, str, str]
"""(kind, identity, detail): `joined` (detail: its attributes then, as JSON), `left`,
`published` (detail: the track sid; the sandbox's, every sid), `dtmf` (detail: the digit),
`attributes` (detail: the changes as JSON; the sandbox's, all the attributes)."""


@dataclass(frozen=True)
class PhoneCall:
    """One call as the supervisor's phone saw it: the number dialled, the From user it was
    shown, and the SIP requests it received, in order (retransmissions once)."""

    number: str
    from_user: str
    received: tuple[str, ...]
    live: bool = False
    """Answered and not hung up (by either side) yet."""
    headers: dict[str, str] | None = None
    """The INVITE's headers (lower-case names), where the phone recorded them."""


class Target:
    name: Literal["sandbox", "real"]
    url: str
    api_key: str
    api_secret: str
    trunk: str
    lk: api.LiveKitAPI
    events: list[RoomEvent]
    preexisting: set[str]
    """Rooms that were there before the test (never its leaks, never deleted by it)."""

    async def phones(self, phones: dict[str, PhoneSpec], *, owned_only: bool = False) -> None:
        """The supervisors' phones from now on; `owned_only`: the carrier refuses (403) a
        From the trunk does not own."""
        raise NotImplementedError

    async def call_in(
        self, room: str, number: str = CALLER, *, hangup_after: float | None = None
    ) -> str:
        """A caller in `room` (with an agent there already), connected; returns its identity.
        With `hangup_after`, the caller hangs up by itself that many seconds after that."""
        raise NotImplementedError

    def supervisor_calls(self) -> list[PhoneCall]:
        raise NotImplementedError

    def caller_received(self) -> tuple[str, ...]:
        """The SIP requests the caller's phone received."""
        raise NotImplementedError

    async def hang_up_caller(self) -> None:
        raise NotImplementedError

    async def hang_up_supervisor(self) -> None:
        """The most recently answered supervisor hangs up."""
        raise NotImplementedError

    async def subscribed(self, room: str, listener: str, speaker: str) -> bool:
        """Whether LiveKit sends `listener` any audio track `speaker` publishes."""
        raise NotImplementedError

    async def agent_leave(self, room: str) -> None:
        """The agent goes quiet after the merge: it publishes nothing and stays in the room,
        as a worker's job does while it follows the merged call."""
        raise NotImplementedError

    def feed(self, engine: TransferEngine, media: RecordingMedia, room: str) -> None:
        """Give `engine`'s transfer in `room` the room's events, as a worker would."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def until(self, check: Callable[[], bool], seconds: float, what: str) -> None:
        await until(check, seconds, f"{self.name}: {what}")
