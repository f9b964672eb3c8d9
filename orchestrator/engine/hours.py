"""The steps that decide by the clock and promise a call back: `open_hours` and `callback`.

`open_hours` reads the transfer's clock as a wall time (`clock.wall_time`), so a simulation
or a test chooses the moment (a scenario's `now:`); `callback` records the promise on the
transfer, which its outcome carries (`TransferOutcome.callback`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from typing import Any, Protocol, TypeVar

from orchestrator.clock import Clock, wall_time
from orchestrator.engine.outcome import Callback
from orchestrator.engine.ports import Media, speech_timeout
from orchestrator.flow.model import CallbackStep, Flow, OpenHoursStep
from orchestrator.flow.schedule import is_open, local_label, next_open
from orchestrator.logs import mask

__all__ = ["Promising", "callback", "open_hours"]

T = TypeVar("T")


class Promising(Protocol):
    """What the two steps read of their transfer, and `callback`, the one thing written."""

    flow: Flow
    clock: Clock
    media: Media
    room: str
    caller_number: str
    caller_number_valid: bool
    callback: Callback | None

    @property
    def log(self) -> Any: ...

    def render(self, template: str) -> str: ...

    def elapsed(self) -> float: ...

    async def within(self, seconds: float, work: Awaitable[T]) -> T: ...


def _now(t: Promising) -> dt.datetime:
    return dt.datetime.fromtimestamp(wall_time(t.clock), dt.UTC)


async def open_hours(t: Promising, step: OpenHoursStep) -> str:
    schedule = t.flow.schedules[step.schedule]
    now = _now(t)
    opened = is_open(schedule, now)
    t.log.info(
        "transfer.open_hours",
        schedule=step.schedule,
        open=opened,
        local_time=local_label(schedule, now),
        timezone=schedule.timezone,
    )
    return "schedule_open" if opened else "schedule_closed"


async def callback(t: Promising, name: str, step: CallbackStep) -> str:
    number = step.number or (t.caller_number if t.caller_number_valid else None)
    if number is None:
        t.log.info("transfer.callback_no_number", step=name)
        return "no_number"
    text = t.render(step.say)
    await t.within(speech_timeout(text), t.media.say_to_caller(t.room, text))
    # Recorded once the caller has heard the promise: a promise unsaid is not one.
    schedule = t.flow.schedules[step.schedule] if step.schedule else None
    after = next_open(schedule, _now(t)) if schedule else None
    t.callback = Callback(number=number, step=name, promised_s=t.elapsed(), not_before=after)
    when = {"not_before": after.isoformat()} if after else {}
    t.log.info("transfer.callback", step=name, number=mask(number), **when)
    return "callback"
