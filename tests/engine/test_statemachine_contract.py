"""What python-statemachine 3.2.2 does with the three things the engine must guarantee
(one outcome, bounded cleanup, no work after the end), checked against the installed library.

These are the evidence behind how `orchestrator.engine.runtime` drives a compiled flow (issue
21, item 1): each test pins one behaviour the engine relies on or works around, so a library
upgrade that changes it fails here first.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from statemachine import StateChart
from statemachine.io import create_machine_class_from_definition


class _Async:
    """An async listener: what makes the library pick its async engine."""

    async def after_transition(self) -> None:
        return None


def _machine(states: dict[str, Any]) -> type[StateChart[Any]]:
    # As `orchestrator.flow.compiler` compiles flows: errors reach the caller.
    return create_machine_class_from_definition(
        "Contract", states=states, catch_errors_as_events=False
    )


async def test_an_exception_in_an_enter_callback_reaches_the_sender_and_undoes_the_step() -> None:
    def boom() -> None:
        raise RuntimeError("action failed")

    machine = _machine(
        {
            "a": {"initial": True, "on": {"go": [{"target": "b"}]}},
            "b": {"enter": boom, "on": {"next": [{"target": "c"}]}},
            "c": {"final": True},
        }
    )(listeners=[_Async()])
    await machine.activate_initial_state()
    with pytest.raises(RuntimeError, match="action failed"):
        await machine.send("go")
    # The configuration is rolled back to before the transition: an action that fails on
    # entry would leave the transfer in the step it came from, so an action's failure must
    # become its step's `failed` outcome (an event) rather than raise inside send().
    assert machine.configuration_values == {"a"}


async def test_an_exception_in_a_callback_rejects_events_queued_behind_it() -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow_then_boom() -> None:
        started.set()
        await release.wait()
        raise RuntimeError("action failed")

    machine = _machine(
        {
            "a": {"initial": True, "on": {"go": [{"target": "b"}]}},
            "b": {"enter": slow_then_boom, "on": {"hangup": [{"target": "c"}]}},
            "c": {"final": True},
        }
    )()
    await machine.activate_initial_state()
    first = asyncio.ensure_future(machine.send("go"))
    await started.wait()
    second = asyncio.ensure_future(machine.send("hangup"))  # queued behind the callback
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(first, second, return_exceptions=True)
    # The caller hanging up, queued behind a failing action, is lost with it: an engine
    # that needs every event applied (one outcome) cannot let step work fail inside send().
    assert [type(r) for r in results] == [RuntimeError, RuntimeError]
    assert machine.configuration_values == {"a"}


async def test_a_completion_after_its_state_was_left_is_dropped() -> None:
    answer = asyncio.Event()
    results: list[str] = []

    async def dial() -> str:
        await answer.wait()
        results.append("answered")
        return "answered"

    machine = _machine(
        {
            "a": {"initial": True, "on": {"go": [{"target": "dialing"}]}},
            "dialing": {
                "invoke": [dial],
                "on": {
                    "done.invoke.dialing": [{"target": "briefing"}],
                    "hangup": [{"target": "hung_up"}],
                },
            },
            "briefing": {"final": True},
            "hung_up": {"final": True},
        }
    )(listeners=[_Async()])
    await machine.send("go")
    await asyncio.sleep(0)
    await machine.send("hangup")
    answer.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert machine.configuration_values == {"hung_up"}
    assert results == []  # cancelled at its await: the answer never ran


async def test_a_done_invoke_is_routed_by_its_state_not_by_its_visit() -> None:
    """A completion is matched by the prefix `done.invoke.<state>`: one from an earlier
    visit of the same state (another invoke id) takes this visit's transition. The engine's
    visit number on every outcome is what the library does not give."""

    async def dial() -> str:
        await asyncio.Event().wait()  # never answers by itself
        return "answered"

    machine = _machine(
        {
            "a": {"initial": True, "on": {"go": [{"target": "dialing"}]}},
            "dialing": {
                "invoke": [dial],
                "on": {"done.invoke.dialing": [{"target": "briefing"}]},
            },
            "briefing": {"final": True},
        }
    )(listeners=[_Async()])
    await machine.send("go")
    await machine.send("done.invoke.dialing.0000stale", data="answered")
    assert machine.configuration_values == {"briefing"}


async def test_leaving_a_state_cancels_its_invoke_without_waiting_for_its_cleanup() -> None:
    cleaned: list[str] = []
    answered = asyncio.Event()  # the answer to a hang-up request, say

    async def dial() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await answered.wait()
            cleaned.append("hung up")

    machine = _machine(
        {
            "a": {"initial": True, "on": {"go": [{"target": "dialing"}]}},
            "dialing": {"invoke": [dial], "on": {"hangup": [{"target": "done"}]}},
            "done": {"final": True},
        }
    )(listeners=[_Async()])
    await machine.send("go")
    await asyncio.sleep(0)
    await machine.send("hangup")
    # The machine has ended; the invoke's cleanup has not run yet and nobody awaits it:
    # bounded cleanup and "no work after the end" need the engine to await it itself.
    assert machine.is_terminated
    assert cleaned == []
    answered.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert cleaned == ["hung up"]


async def test_an_async_invoke_alone_does_not_select_the_async_engine() -> None:
    async def dial() -> None:
        return None

    machine = _machine(
        {
            "a": {"initial": True, "on": {"go": [{"target": "dialing"}]}},
            "dialing": {"invoke": [dial], "on": {"hangup": [{"target": "done"}]}},
            "done": {"final": True},
        }
    )()
    # A coroutine function given as invoke counts as an async callback here, but the
    # engine is picked at construction: without an async listener the send is sync.
    result = machine.send("go")
    if asyncio.iscoroutine(result):
        await result
    assert machine.configuration_values == {"dialing"}


async def test_an_exception_in_an_invoke_becomes_an_error_event_lost_without_a_route() -> None:
    async def dial() -> None:
        raise RuntimeError("dial failed")

    def states(**routes: list[dict[str, str]]) -> dict[str, Any]:
        # Built anew each time: the library consumes the definition it is given.
        return {
            "a": {"initial": True, "on": {"go": [{"target": "dialing"}]}},
            "dialing": {
                "invoke": [dial],
                "on": {
                    "hangup": [{"target": "done"}],
                    "give_up": [{"target": "failed"}],
                    **routes,
                },
            },
            "done": {"final": True},
            "failed": {"final": True},
        }

    silent = _machine(states())(listeners=[_Async()])
    await silent.send("go")
    for _ in range(5):
        await asyncio.sleep(0)
    assert silent.configuration_values == {"dialing"}  # no route: the failure vanished

    routed = _machine(states(**{"error.execution": [{"target": "failed"}]}))(listeners=[_Async()])
    await routed.send("go")
    for _ in range(5):
        await asyncio.sleep(0)
    assert routed.configuration_values == {"failed"}
