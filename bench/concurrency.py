"""Many transfers in flight in one engine; the sandbox runs in another process.

Two arrival patterns: a Poisson process (1,000 transfers over 10 s, each supervisor's phone
ringing 2 to 20 s) and a burst (1,000 started in one instant, phones ringing 2 s).
"""

from __future__ import annotations

import asyncio
import random
import resource
import statistics
import time
from typing import Any

from bench.doubles import ROOT, SECRET, SUPERVISOR_NUMBER, AcceptingMedia, start_sandbox
from orchestrator import TransferEngine, load_flow
from orchestrator.engine import Transfer, TransferOutcome

RINGS = range(2, 21)  # seconds, one phone number per ring time
_LAG_TICK_S = 0.01


def rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() // 1024


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * share), len(ordered) - 1)] if ordered else 0.0


class LoopLag:
    """How late the event loop wakes a 10 ms timer: the delay every callback sees."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.rss_peak = 0
        self._task = asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        while True:
            due = time.perf_counter() + _LAG_TICK_S
            await asyncio.sleep(_LAG_TICK_S)
            self.lags.append(time.perf_counter() - due)
            self.rss_peak = max(self.rss_peak, rss_kb())

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def _number(ring: int) -> str:
    return f"+1510555{ring:04d}"


async def run(count: int, *, poisson: bool) -> dict[str, Any]:
    if poisson:
        phones = {_number(r): {"answer": float(r), "decide_after": 0.0} for r in RINGS}
    else:
        phones = {"default": {"answer": 2.0, "decide_after": 0.0}}
    process, url = start_sandbox({"speed": 1, "phones": phones}, count)
    text = (ROOT / "flows" / "warm_transfer.yaml").read_text()
    flows = {r: load_flow(text.replace(SUPERVISOR_NUMBER, _number(r))) for r in RINGS}
    rng = random.Random(15)
    try:
        media = AcceptingMedia()
        engine = TransferEngine(url, "devkey", SECRET, media=media, trunk="ST_sandbox")
        await engine.capabilities()  # a worker's engine has probed before its calls come
        before = rss_kb()
        lag = LoopLag()

        async def one(number: int, ring: int) -> tuple[Transfer, TransferOutcome, int]:
            flow = flows[ring] if poisson else flows[2]
            transfer = media.track(await engine.start(flow, room=f"call-{number}"))
            return transfer, await transfer.outcome, ring

        started = time.perf_counter()
        arrival = 0.0
        tasks = []
        for number in range(1, count + 1):
            ring = rng.choice(RINGS) if poisson else 2
            if poisson:  # exponential gaps: `count` arrivals over 10 s on average
                arrival += rng.expovariate(count / 10.0)
                await asyncio.sleep(max(0.0, started + arrival - time.perf_counter()))
            tasks.append(asyncio.ensure_future(one(number, ring)))
        results = await asyncio.gather(*tasks)
        await lag.stop()
        await engine.aclose()
    finally:
        process.terminate()
        process.wait()
    latencies = [x for t, _, _ in results for x in t.transition_latencies]
    # What the caller waited for a supervisor beyond the phone's own ringing.
    extra = [
        (o.time_to_supervisor_seconds or 0.0) - ring
        for _, o, ring in results
        if o.kind == "merged"
    ]
    return {
        "merged": sum(o.kind == "merged" for _, o, _ in results),
        "outcomes": sorted({f"{o.kind}/{o.reason}" for _, o, _ in results}),
        "p99_transition_ms": percentile(latencies, 0.99) * 1000,
        "median_transition_ms": statistics.median(latencies) * 1000,
        "loop_lag_p99_ms": percentile(lag.lags, 0.99) * 1000,
        "extra_wait_p50_ms": percentile(extra, 0.5) * 1000,
        "extra_wait_p99_ms": percentile(extra, 0.99) * 1000,
        "rss_kb_per_transfer": (lag.rss_peak - before) / count,
        "seconds": time.perf_counter() - started,
    }
