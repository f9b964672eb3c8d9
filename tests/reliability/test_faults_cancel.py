"""Catalogue D: cancellation at every await point of the engine, drains and clock stalls.

D4 is systematic: for each flow and each way a transfer can be cut short (its public
`cancel()`, the worker cancelling its task, the caller hanging up, the engine closing), the
cut is injected right after the engine's k-th API call answers (k = 1, 2, ... until the
transfer makes no k-th call), and while the k-th request is at the server (the engine
awaiting it). Every await of the engine sits between two API calls, a media call or a timer,
so this reaches each of them; the manual-clock sweep reaches the timers (ringing, brief).

D1 and D2 (the worker killed mid-transfer, a replacement recovering from the caller room's
checkpoint, a crash right after the merge) are covered by tests/engine/test_recovery.py.
D3 is the drain mode below (`TransferEngine.aclose()` mid-transfer). D6 (a wall-clock jump)
cannot be injected: the engine reads no wall clock for its timing (every timeout runs on the
injected `Clock`, checked by `test_the_engine_times_nothing_by_the_wall_clock`), and the JWT
library's own `datetime.now()` cannot be moved without patching the interpreter.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest

from orchestrator import TransferError
from orchestrator.flow.model import Flow
from tests.reliability.cases import BACKUP, HAPPY, MOVE, PRIMARY, phones
from tests.reliability.figures import FIGURES
from tests.reliability.harness import ROOT, flow, warm
from tests.reliability.rig import Rig

FLOWS: dict[str, tuple[Callable[[], Flow], dict[str, Any]]] = {
    "warm": (warm, HAPPY),
    "warm-fallback": (warm, {**HAPPY, "trunk": {"caller_id_policy": "owned_only"}}),
    "chain": (
        lambda: flow("supervisor_chain"),
        phones(None, **{PRIMARY: {"answer": "busy"}, BACKUP: {"answer": 1.0}}),
    ),
    "cold": (lambda: flow("cold_transfer"), {}),
}
MODES = ("cancel", "kill", "hangup", "drain")
CUT_SHORT = {"failed", "caller_hung_up"}


def _action(rig: Rig, mode: str) -> Callable[[], None]:
    return {
        "cancel": rig.cancel,
        "kill": rig.kill,
        "hangup": rig.caller_hangs_up,
        "drain": rig.drain,
    }[mode]


async def _sweep(name: str, mode: str, *, in_flight: bool, starting: bool = False) -> int:
    """One case per k: counted in the figures only when the cut was really injected, and
    only in the phase asked for (`starting`: while `engine.start()` runs; else after)."""
    make, scenario = FLOWS[name]
    failures: list[str] = []
    injected = 0
    for k in range(1, 60):
        fired: list[bool] = []
        try:
            async with Rig(scenario) as rig:

                def cut(rig: Rig = rig, fired: list[bool] = fired) -> None:
                    fired.append(True)
                    if (not rig.transfers) == starting:
                        fired.append(True)
                        _action(rig, mode)()

                if in_flight:
                    rig.in_flight(k, cut)
                else:
                    rig.after_request(k, cut)
                try:
                    await rig.start(make())
                except TransferError:  # refused while starting: typed, and nothing held
                    pass
                except asyncio.CancelledError:  # the start itself was cancelled
                    assert starting
                    assert mode in ("cancel", "kill")
                for outcome in await rig.finish():
                    assert outcome.kind in CUT_SHORT | {"merged", "returned", "cold_transferred"}
                rig.verify()
        except Exception as error:
            if len(fired) == 2:
                failures.append(f"k={k}: {type(error).__name__}: {error}")
            else:
                raise
        if not fired:
            break
        if len(fired) == 2:
            injected += 1
            FIGURES.faults_injected += 1
            FIGURES.faults_survived += int(not failures or not failures[-1].startswith(f"k={k}:"))
            FIGURES.await_points_cancel_tested += 1
    assert failures == [], "\n".join(failures)
    return injected


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(FLOWS))
async def test_cut_short_after_every_api_call(name: str, mode: str) -> None:
    assert await _sweep(name, mode, in_flight=False) >= (1 if name == "cold" else 4)


@pytest.mark.parametrize("mode", ["cancel", "hangup"])
@pytest.mark.parametrize("name", ["warm", "chain"])
async def test_cut_short_while_every_api_call_is_in_flight(name: str, mode: str) -> None:
    assert await _sweep(name, mode, in_flight=True) >= 2


@pytest.mark.parametrize("mode", MODES)
async def test_cut_short_while_starting(mode: str) -> None:
    """The same cuts while `engine.start()` is still making its own API calls."""
    assert await _sweep("warm", mode, in_flight=False, starting=True) >= 1
    await _sweep("warm", mode, in_flight=True, starting=True)


TIMES = [0.05, 0.1, 0.15, 0.5, 1.0, 2.0, 2.05, 2.5, 3.0, 3.05, 3.5]


@pytest.mark.parametrize("mode", ["cancel", "hangup", "drain"])
@pytest.mark.parametrize("at", TIMES)
async def test_cut_short_at_any_moment(at: float, mode: str) -> None:
    """D4 on the clock: ringing (0.1-2 s), briefing (2-3 s), merging (3 s on)."""
    async with Rig(HAPPY, fault=f"D4-at-{at}-{mode}") as rig:
        rig.at(at, _action(rig, mode))
        outcome = await rig.run(warm())  # the merge starts at 3.0 s
        assert outcome.kind in CUT_SHORT | {"merged"}
        if at < 3.0:
            assert outcome.kind in CUT_SHORT


@pytest.mark.parametrize("name", ["warm", "warm-fallback", "chain"])
async def test_caller_hangs_up_right_after_the_move(name: str) -> None:
    """B3/D4: the move is done at the server; the caller hangs up before the engine's next
    step. The supervisor must not stay in the caller's room (INV-LEAK)."""
    make, scenario = FLOWS[name]
    async with Rig(scenario, fault=f"B3-hangup-after-move-{name}") as rig:
        rig.after_rpc(MOVE, rig.caller_hangs_up)
        outcome = await rig.run(make())
        assert outcome.kind == "caller_hung_up"


@pytest.mark.parametrize("mode", ["cancel", "kill", "drain"])
async def test_cut_short_as_the_move_is_sent(mode: str) -> None:
    """D3/D4: the cut lands while the move request is on its way: the server moves the
    supervisor anyway, so cleanup must not leave them in the caller's room (INV-LEAK)."""
    async with Rig(HAPPY, fault=f"D4-move-in-flight-{mode}") as rig:
        rig.on_state("merge_call", _action(rig, mode))
        outcome = await rig.run(warm())
        assert (outcome.kind, outcome.reason) == ("failed", "cancelled")


@pytest.mark.parametrize("state", ["dial_supervisor", "brief_supervisor"])
async def test_drain_in_each_state(state: str) -> None:
    """D3: the worker drains (the engine closes) in each state: clean, and in bounded time."""
    async with Rig(HAPPY, fault=f"D3-drain-in-{state}") as rig:
        rig.on_state(state, rig.drain)
        outcome = await rig.run(warm())
        assert (outcome.kind, outcome.reason) == ("failed", "cancelled")
        assert rig.clock.now() < 200  # bounded by the cleanup's own limits, not a timer


@pytest.mark.parametrize("jump", [5.0, 60.0, 600.0])
async def test_event_loop_stall(jump: float) -> None:
    """D5: the loop stalls while a phone rings: when it resumes, every overdue timer fires at
    once, in order. The hold stays within max_hold (+1 s) and the overrun is reported."""
    async with Rig(phones({"answer": 30.0}), fault=f"D5-stall-{jump}") as rig:
        transfer = await rig.start(warm(max_hold=10))
        await rig.advance(1.0)
        await rig.clock.advance(jump)  # one jump, no settling between the deadlines
        (outcome,) = await rig.finish()
        rig.verify()
        assert transfer.outcome.done()
        assert outcome.hold_seconds <= 10 + 1.0
        if jump >= 10:
            assert (outcome.kind, outcome.reason) == ("returned", "max_hold")


def test_the_engine_times_nothing_by_the_wall_clock() -> None:
    """D6: timeouts run on the injected clock; the engine never reads the wall clock."""
    sources = [*(ROOT / "orchestrator" / "engine").glob("*.py")]
    sources.append(ROOT / "orchestrator" / "livekit" / "gateway.py")
    wall = re.compile(r"time\.time\(|datetime\.now\(|asyncio\.sleep\((?!0\))|loop\.time\(")
    found = [f"{p.name}:{m.group()}" for p in sources for m in wall.finditer(p.read_text())]
    assert found == []
