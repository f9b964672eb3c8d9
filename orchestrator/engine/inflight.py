"""Requests left running when the step that sent them is cancelled (a dial, a CreateRoom, a
checkpoint write): a request the server has may still take effect, so whoever cleans up
waits for it rather than forget it.

`InFlight` is one transfer's registry of them. Each request is added with the clock time its
client gives up on it (`deadline`); one not answered by then may still be applied until
`LATE_ANSWER_S` after it (an answer already on its way), and is taken as never landing only
then. A request answered (a result, or an error LiveKit sent: it was not applied) leaves the
registry at once; one cut short or given up on stays in it, doubtful, until that time has
passed. `settle` waits for them as their client would, plus that margin, never past the
deadline it is given, then cancels what still runs: after it, nothing sent can land.

A dial is different in one way: its answer says what to undo (a leg), so it stays until
whoever acts on the answer takes it (`taken`): the step that placed it, or, when that step
was cut short, cleanup, which ends the leg as soon as it shows (`cleanup._late_dial`).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from orchestrator.clock import Clock, within
from orchestrator.errors import LiveKitError

__all__ = ["CREATE_ROOM", "DIAL", "LATE_ANSWER_S", "WRITE", "InFlight", "Request"]

DIAL = "dial"
"""A CreateSIPParticipant (`engine.actions`): cut short, its leg may still show; kept until
taken, with the leg it places (`legs.Dialing`) as its `about`."""
CREATE_ROOM = "create_consult_room"
"""The consult room's CreateRoom (`engine.merge`): deleted before it lands, the room stays."""
WRITE = "checkpoint"
"""A checkpoint write (`engine.checkpoint`): landing after the clear, it would undo it."""
LATE_ANSWER_S = 10.0
"""An answer already on its way when the request's deadline passed."""


def retrieved(call: asyncio.Future[Any]) -> None:
    """A done callback: the request's error is seen here (never "exception was never
    retrieved"); whoever awaits it sees it too."""
    if not call.cancelled():
        call.exception()


@dataclass(frozen=True, eq=False)
class Request:
    what: str
    """What it is (`DIAL`, `CREATE_ROOM`, `WRITE`): `settle` and the views filter by it."""
    future: asyncio.Future[Any]
    deadline: float
    """Clock time at which its client gives up on the answer."""
    about: object = None
    """What it acts on, for whoever settles it (a dial: the leg, `legs.Dialing`)."""
    kept: bool = False
    """Answered, it stays until `taken`: its answer is acted on (a dial's leg)."""

    @property
    def lands_until(self) -> float:
        """Until when it may still take effect at the server."""
        return self.deadline + LATE_ANSWER_S

    @property
    def doubtful(self) -> bool:
        """Not answered: still on its way, cut short, or given up on by its client (an
        error LiveKit answered says it was not applied)."""
        if not self.future.done() or self.future.cancelled():
            return True
        error = self.future.exception()
        return error is not None and not isinstance(error, LiveKitError)


class InFlight:
    """One transfer's requests that may still take effect (see the module doc)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._requests: list[Request] = []

    @property
    def clock(self) -> Clock:
        """The clock its deadlines are read on."""
        return self._clock

    def add(
        self,
        what: str,
        future: asyncio.Future[Any],
        deadline: float,
        about: object = None,
        *,
        kept: bool = False,
    ) -> Request:
        """Keep `future` (a request sent now) until it is answered, or until it can no
        longer land after `deadline`, its client's; `kept`: until it is `taken`."""
        request = Request(what, future, deadline, about, kept)
        self._requests.append(request)
        future.add_done_callback(retrieved)
        future.add_done_callback(lambda _: self._answered(request))
        return request

    def taken(self, request: Request) -> None:
        """Its answer (or its end, for one cut short) has been acted on: forgotten."""
        if request in self._requests:
            self._requests.remove(request)

    def requests(self, what: str) -> list[Request]:
        """The requests named `what` in the registry, in the order they were sent: those
        not answered yet, those that may still land, and the kept ones not taken."""
        return [r for r in self._requests if r.what == what]

    def running(self, what: str) -> set[asyncio.Future[Any]]:
        """The requests named `what` not answered yet."""
        return {r.future for r in self._requests if r.what == what and not r.future.done()}

    def doubtful(self, what: str | None = None) -> list[Request]:
        """The requests (named `what`, or all) that may still land, now or later."""
        now = self._clock.now()
        return [
            r
            for r in self._requests
            if (what is None or r.what == what) and r.doubtful and r.lands_until > now
        ]

    async def settle(self, until: float, what: str | None = None) -> None:
        """Wait for the requests (named `what`, or all) as long as their clients would, and
        `LATE_ANSWER_S` more, never past `until`; cancel those still running; then wait
        until none given up on can land any more (as far as the library can see: one that
        LiveKit applies later still is beyond it)."""
        requests = self.doubtful(what)
        running = {r.future for r in requests if not r.future.done()}
        if running:
            last = min(max(r.lands_until for r in requests), until)
            seconds = max(last - self._clock.now(), 0.0)
            with contextlib.suppress(TimeoutError):
                await within(self._clock, seconds, asyncio.wait(running))
        for request in requests:
            request.future.cancel()
        left = [r.lands_until for r in requests if r.doubtful]
        if left:
            await self._clock.sleep(max(0.0, min(max(left), until) - self._clock.now()))
        self._requests = [r for r in self._requests if r not in requests]

    def _answered(self, request: Request) -> None:
        if not request.kept and not request.doubtful and request in self._requests:
            self._requests.remove(request)
