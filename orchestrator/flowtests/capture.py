"""The engine's log events of one simulated run, captured with the simulated time.

A structlog processor is put first in the configured chain (in place, so loggers already
bound see it too). It takes only the events of the run that set the context variable (the
engine's and the sandbox's tasks inherit it), masks them as log lines are, adds `at` (the
run's simulated seconds) and drops them: a test run does not print its transfer's logs.
Every other event passes through untouched, so runs may overlap with the host's logging.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog

from orchestrator.clock import Clock
from orchestrator.logs import mask_phone_numbers

__all__ = ["Capture", "captured"]


class Capture:
    """`events`, masked, each with `at`; `transitions` as (from_state, to_state, trigger),
    unmasked: a step's name may hold digits that masking would take for a number."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.events: list[dict[str, Any]] = []
        self.transitions: list[tuple[str, str, str]] = []


_SINK: ContextVar[Capture | None] = ContextVar("orchestrator_flowtests_sink", default=None)


def _tap(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
    sink = _SINK.get()
    if sink is None:
        return event_dict
    if event_dict.get("event") == "transfer.transition":
        get = event_dict.get
        sink.transitions.append(
            (str(get("from_state")), str(get("to_state")), str(get("trigger")))
        )
    event = dict(mask_phone_numbers(logger, method, dict(event_dict)))
    event.setdefault("level", method)
    event["at"] = round(sink.clock.now(), 3)
    sink.events.append(event)
    raise structlog.DropEvent


def _install() -> None:
    processors = structlog.get_config()["processors"]
    if not processors or processors[0] is not _tap:
        with contextlib.suppress(ValueError):
            processors.remove(_tap)
        processors.insert(0, _tap)


@contextlib.contextmanager
def captured(clock: Clock) -> Iterator[Capture]:
    """What is logged in this context (and the tasks it starts) while it is open."""
    _install()
    sink = Capture(clock)
    token = _SINK.set(sink)
    try:
        yield sink
    finally:
        _SINK.reset(token)
