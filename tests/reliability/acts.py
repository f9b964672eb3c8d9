"""What happens to a `Rig`'s transfer from outside: people hang up or press keys, the
worker cancels, is killed or drains. A mixin, so cases read `rig.caller_hangs_up()`."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["Acts"]


class Acts:
    """Needs the rig's `sandbox`, `callers`, `room`, `clock`, `engine`, `transfers`,
    `starting`, `supervisor()` and `_timers`; records when a cut was made (`cut_at`)."""

    sandbox: Any
    callers: dict[str, str]
    room: str
    clock: Any
    engine: Any
    transfers: list[Any]
    starting: asyncio.Future[Any] | None
    cut_at: float
    _timers: list[asyncio.Task[None]]

    def supervisor(self) -> tuple[str, str] | None:
        raise NotImplementedError

    def caller_hangs_up(self, room: str | None = None) -> None:
        room = room or self.room
        self.sandbox.hang_up(room, self.callers[room])

    def supervisor_hangs_up(self) -> None:
        leg = self.supervisor()
        if leg is not None:
            self.sandbox.hang_up(*leg)

    def supervisor_leaves(self, reason: int) -> None:
        """The supervisor's participant disconnects with `reason` (USER_UNAVAILABLE...)."""
        leg = self.supervisor()
        if leg is not None and self.sandbox.world.member(*leg) is not None:
            self.sandbox.world.leave(leg[0], leg[1], reason)  # type: ignore[arg-type]

    def press(self, digit: str, *, who: str = "supervisor") -> None:
        """A DTMF digit from the supervisor's (or the caller's) phone, as a room event."""
        leg = self.supervisor() if who == "supervisor" else (self.room, self.callers[self.room])
        member = self.sandbox.world.member(*leg) if leg is not None else None
        if leg is not None and member is not None:
            self.sandbox.world.emit(
                "sip_dtmf_received", leg[0], participant=member.info, digit=digit
            )

    def cancel(self) -> None:
        """The transfer's `cancel()`; while it is still starting, the start is cancelled."""
        self.cut_at = self.clock.now()
        if self.transfers:
            self.transfers[-1].cancel()
        elif self.starting is not None:
            self.starting.cancel()

    def kill(self) -> None:
        """A worker shutting down cancels the transfer's task itself (or the start)."""
        self.cut_at = self.clock.now()
        if self.transfers:
            self.transfers[-1]._task.cancel()
        elif self.starting is not None:
            self.starting.cancel()

    def drain(self) -> None:
        """A graceful drain: the engine closes while the transfer runs."""
        self.cut_at = self.clock.now()
        self._timers.append(asyncio.ensure_future(self.engine.aclose()))
