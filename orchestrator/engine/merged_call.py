"""After a merge: a call between two people, ended for both when either one hangs up.

LiveKit keeps a room open while anyone is in it. Once the AI has left, a caller or a
supervisor who hangs up would leave the other alone on the line, in silence, until they hang
up too. So the job that ran the transfer stays in the caller's room (its AI session closed,
publishing nothing) and watches the two of them: when either one's departure is confirmed,
it deletes the room, and LiveKit's SIP bridge sends the other phone BYE.

A departure counts at once when LiveKit's SIP bridge has marked the call ended
(`sip.callStatus: hangup`), and otherwise once it has lasted `DEPARTURE_GRACE_S` and the
server agrees (a reconnect is not a hang-up; see `engine.presence`). The caller keeps the
checkpoint `transfer.state: merged` meanwhile, so a replacement job re-arms the watch from
`recover()` when the worker is lost during the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.clock import Clock
from orchestrator.engine.legs import absent, hang_up
from orchestrator.engine.presence import DEPARTURE_GRACE_S
from orchestrator.engine.retry import persist
from orchestrator.errors import LiveKitError
from orchestrator.livekit import Gateway

__all__ = ["CallEnd", "MergedCall", "release"]

Party = Literal["caller", "supervisor"]
_RELEASE_S = 90.0  # as long as a transfer's cleanup: then the room closes by its own timeouts


@dataclass(frozen=True)
class CallEnd:
    """How a merged call ended: who hung up first (None: the job stopped watching and the
    call went on), how long the two talked, and whether LiveKit confirmed the release."""

    hung_up_first: Party | None
    call_seconds: float
    released: bool


class MergedCall:
    """The caller and the supervisor after a merge, until one of them hangs up; then the
    other one is released (the room is deleted, so their phone gets BYE). Fed the room's
    events like a `Transfer`; `ended` resolves once, when the call is over for both."""

    def __init__(
        self,
        *,
        gateway: Gateway,
        clock: Clock,
        log: Any,
        room: str,
        caller: str,
        supervisor: str,
        on_done: Callable[[MergedCall], None],
        checkpoint: dict[str, str],
        merged_at: float | None = None,
        look: bool = False,
    ) -> None:
        self.gateway, self.clock, self.log = gateway, clock, log
        self.room, self.caller, self.supervisor = room, caller, supervisor
        self._parties: dict[str, Party] = {caller: "caller", supervisor: "supervisor"}
        self._checkpoint = checkpoint
        self._since = clock.now() if merged_at is None else merged_at
        self._rewriting: asyncio.Task[None] | None = None
        self._on_done = on_done
        self._ended: asyncio.Future[CallEnd] = asyncio.get_running_loop().create_future()
        self._departures: dict[str, asyncio.Task[None]] = {}
        self._releasing: asyncio.Task[None] | None = None
        self._looking: asyncio.Task[None] | None = None
        if look:  # armed from a listing that may be stale by now (recovery): look again
            self._looking = asyncio.ensure_future(self._look())

    @property
    def ended(self) -> asyncio.Future[CallEnd]:
        """The end of the call, for any number of waiters (each may cancel its own wait)."""
        return asyncio.shield(self._ended)

    # -- room events ---------------------------------------------------------------------

    def participant_left(self, room: str, identity: str, *, hung_up: bool = False) -> None:
        party = self._parties.get(identity)
        if room != self.room or party is None or self._releasing is not None:
            return
        if hung_up:  # the bridge marked the phone call ended: no reconnect to wait for
            self._release(party)
        elif identity not in self._departures:
            self._departures[identity] = asyncio.ensure_future(self._confirm(identity, party))

    def participant_joined(self, room: str, identity: str) -> None:
        if room == self.room and (pending := self._departures.pop(identity, None)) is not None:
            pending.cancel()  # a reconnect: the call goes on
            if identity == self.caller:  # the rejoin lost the attributes the API wrote
                self.write_checkpoint()

    def track_published(self, room: str, identity: str, track: str) -> None:
        """Nothing to keep apart any more."""

    def dtmf(self, room: str, identity: str, digit: str) -> None:
        """Nothing to decide any more."""

    def stop(self) -> None:
        """The job ends before the call does: stop watching, and leave the call as it is."""
        self._stop_watching()
        if self._releasing is None:
            self._finish(None, round(self.clock.now() - self._since, 3), released=False)

    # -- what the watch does ---------------------------------------------------------------

    async def _look(self) -> None:
        try:
            everyone = await self.gateway.list_participants(self.log, self.room)
        except LiveKitError:
            return  # the room's events will tell
        finally:
            self._looking = None
        listed = {p.identity for p in everyone}
        for identity, party in self._parties.items():
            if identity not in listed:
                self._release(party)
                return

    async def _confirm(self, identity: str, party: Party) -> None:
        await self.clock.sleep(DEPARTURE_GRACE_S)
        try:
            gone = await absent(self, self.room, identity)
        except Exception:  # the server cannot say otherwise: the event stands
            gone = True
        self._departures.pop(identity, None)
        if gone:
            self._release(party)

    def _release(self, first: Party) -> None:
        if self._releasing is None and not self._ended.done():
            self._stop_watching()
            self._releasing = asyncio.ensure_future(self._end(first))

    def write_checkpoint(self) -> None:
        """Put `merged` on the caller (again): without it a replacement job (or the
        watchdog) would not know of this call, or would unwind it from an older state."""
        if self._rewriting is None and self._releasing is None:
            self._rewriting = asyncio.ensure_future(self._rewrite())

    async def _rewrite(self) -> None:
        async def write() -> bool:
            await self.gateway.set_attributes(self.log, self.room, self.caller, self._checkpoint)
            return True

        try:
            until = self.clock.now() + _RELEASE_S
            await persist(self.clock, write, "the checkpoint could not be written", until)
        except Exception as error:
            self.log.warning(
                "transfer.checkpoint_failed", state="merged", error=type(error).__name__
            )
        finally:
            self._rewriting = None

    def _stop_watching(self) -> None:
        for task in [*self._departures.values(), self._looking, self._rewriting]:
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        self._departures.clear()

    async def _end(self, first: Party) -> None:
        talked = round(self.clock.now() - self._since, 3)
        seen = self.clock.now()
        other = next(who for who, party in self._parties.items() if party != first)
        released = await release(self.gateway, self.clock, self.log, self.room, other)
        self.log.info(
            "transfer.call_ended",
            hung_up_first=first,
            call_seconds=talked,
            release_ms=round((self.clock.now() - seen) * 1000, 1),
            released=released,
        )
        self._finish(first, talked, released=released)

    def _finish(self, first: Party | None, talked: float, *, released: bool) -> None:
        if not self._ended.done():
            self._ended.set_result(CallEnd(first, talked, released))
            self._on_done(self)


@dataclass(frozen=True)
class _Asking:
    gateway: Gateway
    log: Any


async def release(gateway: Gateway, clock: Clock, log: Any, room: str, other: str) -> bool:
    """End the call for `other` (the one who did not hang up) by deleting the room, so
    LiveKit's SIP bridge sends their phone BYE; True once LiveKit confirmed it."""
    asking = _Asking(gateway, log)
    tries = 0

    async def end() -> bool:
        nonlocal tries
        tries += 1
        try:
            if await gateway.delete_room(log, room):
                return True
        except Exception:
            if tries < 3:
                raise
            # DeleteRoom keeps failing: at least the other phone is hung up (below).
        # `not_found` can be wrong (a stale node's view), and so can RemoveParticipant's:
        # each is believed only once neither API lists the other phone.
        await hang_up(asking, room, other)
        return True

    try:
        await persist(clock, end, "the call could not be ended", clock.now() + _RELEASE_S)
    except Exception as error:
        log.warning("transfer.cleanup_failed", step="end_merged_call", error=type(error).__name__)
        return False
    return True
