"""The machine's runtime: a compiled flow's StateChart driven by one queue, one visit at a
time.

Everything that can happen to a transfer becomes an event on the queue; `run` applies them
one at a time, so there are no races between them. Entering a step's state (the compiled
StateChart's `StepAction` enter callback) stops the visit before it and starts the state's
action as one task; an outcome counts only for the visit that produced it. Events a state
does not expect are logged and ignored. What a visit does, and what the transfer keeps of
it, is the `Stepping` host's (`engine.transfer.Transfer`).

What stays here rather than in the library (the evidence is
`tests/engine/test_statemachine_contract.py`): the queue, because an exception inside
`send()` rolls back the transition and rejects every event queued behind it; the visit
number on every outcome, because the library routes a completion by its state, not by the
visit that produced it; and the step task, awaited by cleanup, because leaving a state does
not wait for an invoke's own cleanup.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from orchestrator.flow.compiler import CompiledFlow
from orchestrator.flow.steps import TERMINAL_TYPES

__all__ = ["Listener", "Runtime", "Stepping"]

_CANCEL = "\x00cancel"  # not an event name a flow can have
Listener = Callable[[str, str, str], None]


class Stepping(Protocol):
    """What the runtime asks of the transfer it runs."""

    def entering(self, name: str) -> None:
        """A visit of `name` begins (before its action starts, or not: a final state)."""

    def left(self, source: str, event: str) -> None:
        """The machine left `source` on `event` (before the listeners hear of it)."""

    async def act(self, name: str) -> str:
        """A visit's work: the step's outcome (an event)."""
        ...


class Runtime:
    """One transfer's machine: its state, the queue of events, the visits and their task."""

    def __init__(self, compiled: CompiledFlow, host: Stepping, log: Any) -> None:
        self._flow, self._table, self._log = compiled.flow, compiled.table, log
        # The host owns this runtime: held weakly, so that neither it nor the machine is kept
        # in a reference cycle, and a finished transfer is freed as soon as it is let go of
        # (not at the garbage collector's next full pass, which that would make costlier).
        self._host: Stepping = weakref.proxy(host)
        self._machine = compiled.machine(model=_Runner(self))
        self._queue: asyncio.Queue[tuple[str, int | None, float]] = asyncio.Queue()
        self._listeners: list[Listener] = []
        self._visit = 0
        self._visits: dict[str, int] = {}
        self.step_task: asyncio.Task[None] | None = None
        """The visit under way (cleanup stops it)."""
        self.transition_latencies: list[float] = []
        """Seconds between an event's arrival and its transition (for the benchmark)."""

    @property
    def state(self) -> str:
        return str(next(iter(self._machine.configuration_values)))

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def post(self, event: str, visit: int | None = None) -> None:
        """Queue an event; `visit` ties a step's outcome to the visit that produced it."""
        self._queue.put_nowait((event, visit, time.perf_counter()))

    def cancel(self) -> None:
        self._queue.put_nowait((_CANCEL, None, time.perf_counter()))

    async def run(self) -> str:
        """Start, then apply events until a final state or a cancel; returns the trigger the
        transfer ends on (`cancelled` for a cancel, this task's or the queue's)."""
        trigger = "start"
        self._apply("start")
        while not self._machine.is_terminated:
            event, visit, posted = await self._queue.get()
            if event == _CANCEL:
                return "cancelled"
            if visit is None or visit == self._visit:
                trigger = event
                if self._apply(event):
                    self.transition_latencies.append(time.perf_counter() - posted)
        return trigger

    def _apply(self, event: str) -> bool:
        source = self.state
        target = self._table[source].get(event)
        if target is None:  # not for this state: the machine would ignore it too
            self._log.info("transfer.event_ignored", trigger=event, state=source)
            return False
        self._machine.send(event)  # entering `target` stops the visit and starts the next
        step_type = getattr(self._flow.steps.get(target), "type", "")  # for telemetry
        self._log.info(
            "transfer.transition",
            from_state=source,
            to_state=target,
            trigger=event,
            step_type=step_type,
        )
        self._host.left(source, event)
        for listener in list(self._listeners):
            try:
                listener(source, target, event)
            except Exception as error:  # an observer's bug must not stop the transfer
                self._log.warning("transfer.listener_failed", error=type(error).__name__)
        return True

    def _enter(self, name: str) -> None:
        """The machine entered `name`'s state (`StepAction.enter`): the visit before it
        stops, a new one begins, and its action runs as one task, unless the step is final
        or its visits are spent."""
        if self.step_task is not None:
            self.step_task.cancel()
            self.step_task = None
        self._visit += 1
        self._host.entering(name)
        step = self._flow.steps.get(name)
        if step is None or step.type in TERMINAL_TYPES:
            return  # a final state: cleanup.finish does the rest
        visits = self._visits[name] = self._visits.get(name, 0) + 1
        budget = getattr(step, "max_visits", None)
        if budget is not None and visits > budget:
            self.post("exhausted", self._visit)
            return
        self.step_task = asyncio.ensure_future(self._act(name, self._visit))

    async def _act(self, name: str, visit: int) -> None:
        self.post(await self._host.act(name), visit)


class _Runner:
    """The compiled machine's model: what its states' `StepAction` callbacks call. It holds
    its runtime weakly (the runtime holds the machine, which holds this model: no cycle)."""

    __slots__ = ("_runtime", "state")

    def __init__(self, runtime: Runtime) -> None:
        self.state: Any = None  # the machine's own record of its configuration
        self._runtime = weakref.ref(runtime)

    def step_entered(self, name: str) -> None:
        runtime = self._runtime()
        if runtime is not None:
            runtime._enter(name)
