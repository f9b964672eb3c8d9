"""Ring groups in `make bench`: how much sooner a caller reaches a supervisor when three are
rung at once rather than in a chain (simulated clock, so exact), and what a group of five
costs the engine per transfer next to a single dial (a sandbox in another process)."""

from __future__ import annotations

import time
from typing import Any

from bench.doubles import SECRET, AcceptingMedia, start_sandbox
from orchestrator import TransferEngine, load_flow
from orchestrator.clock import ManualClock
from orchestrator.flow.model import Flow
from orchestrator.sandbox import Scenario
from orchestrator.simulate import simulate

__all__ = ["group_cost", "ring_flow", "time_to_supervisor"]

NUMBERS = [f"+1510555010{n}" for n in range(5)]
RING_S = 20
ANSWER_S = 6.0
"""The three-target comparison: the first two never answer, the third answers after 6 s."""


def ring_flow(targets: int, *, together: bool) -> Flow:
    """A warm transfer to `targets` supervisors, each ringing 20 s: a chain, or one group."""
    names = [f"supervisor_{n}" for n in range(targets)]
    listed = "\n".join(f'  {name}: {{number: "{NUMBERS[n]}"}}' for n, name in enumerate(names))
    to = f"[{{group: [{', '.join(names)}]}}]" if together else f"[{', '.join(names)}]"
    return load_flow(
        f"""
name: ring_{"group" if together else "chain"}_{targets}
max_hold: 300
fallback: back
caller_id: {{mode: preserve, business_number: "+18005550100"}}
targets:
{listed}
steps:
  hold: {{type: hold, next: dial}}
  dial: {{type: dial, to: {to}, ring_timeout: {RING_S}, next: brief}}
  brief: {{type: brief, say: "A call for you. Press 1.", next: merge}}
  merge: {{type: merge, next: leave}}
  leave: {{type: exit}}
  back: {{type: return_to_agent}}
"""
    )


async def time_to_supervisor() -> dict[str, float]:
    """Seconds from the start to the supervisor joining the caller, on the simulated clock:
    three targets, the first two not answering, the third answering after 6 s."""
    phones: dict[str, Any] = {number: {"answer": "no_answer"} for number in NUMBERS[:2]}
    phones[NUMBERS[2]] = {"answer": ANSWER_S, "decide_after": 1.0}
    scenario = Scenario.model_validate({"phones": phones})
    seconds: dict[str, float] = {}
    for together in (True, False):
        result = await simulate(ring_flow(3, together=together), scenario, clock=ManualClock())
        assert result.outcome.kind == "merged", result.outcome
        assert result.outcome.time_to_supervisor_seconds is not None
        seconds["group" if together else "chain"] = result.outcome.time_to_supervisor_seconds
    return seconds


async def group_cost(runs: int) -> dict[str, list[float]]:
    """CPU ms and wall ms of the engine per transfer: a group of five (all answer at once:
    one kept, four ended) and a single dial, interleaved against one sandbox process."""
    fast = {"speed": 100_000, "phones": {"default": {"answer": 0.0, "decide_after": 0.0}}}
    process, url = start_sandbox(fast, 2 * runs)
    flows = {"group5": ring_flow(5, together=True), "single": ring_flow(1, together=False)}
    figures: dict[str, list[float]] = {f"{k}_{m}": [] for k in flows for m in ("cpu", "ms")}
    media = AcceptingMedia()
    engine = TransferEngine(url, "devkey", SECRET, media=media, trunk="ST_sandbox")
    try:
        await engine.capabilities()
        room = 0
        for _ in range(runs):
            for key, flow in flows.items():
                room += 1
                cpu, started = time.process_time(), time.perf_counter()
                transfer = media.track(await engine.start(flow, room=f"call-{room}"))
                outcome = await transfer.outcome
                figures[f"{key}_ms"].append((time.perf_counter() - started) * 1000)
                figures[f"{key}_cpu"].append((time.process_time() - cpu) * 1000)
                assert outcome.kind == "merged", outcome
                assert len(outcome.attempts) == (5 if key == "group5" else 1)
    finally:
        await engine.aclose()
        process.terminate()
        process.wait()
    return figures
