"""`make bench`: what orchestration costs next to the LiveKit calls it makes.

Prints a table (median and spread of repeated runs) and, as its last line, one JSON object
with the figures; saves the same object to bench/results.json. Comparisons run interleaved in
one process so machine noise falls on both sides alike.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import time
from typing import Any

import structlog
from livekit import api
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bench import concurrency, ring_group
from bench.doubles import ROOT, SECRET, AcceptingMedia, Loopback, start_sandbox, straight_line
from orchestrator import TransferEngine, compile_flow, configure_logging, load_flow
from orchestrator.clock import ManualClock
from orchestrator.livekit.probe import Capabilities
from orchestrator.sandbox import Sandbox, Scenario
from orchestrator.sandbox.scenario import RPCS
from orchestrator.simulate import connect
from orchestrator.telemetry import use_providers
from orchestrator.testing import RecordingMedia

FLOW = ROOT / "flows" / "warm_transfer.yaml"
FAST = {"speed": 100_000, "phones": {"default": {"answer": 0.0, "decide_after": 0.0}}}
RUNS = int(os.environ.get("BENCH_RUNS", "30"))
WARM = load_flow(FLOW)  # loaded once per process, as a worker does
DEVNULL = open(os.devnull, "w")  # noqa: SIM115 - for the whole run
CONCURRENT = int(os.environ.get("BENCH_CONCURRENT", "1000"))


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):10.3f}  (min {min(values):.3f}, max {max(values):.3f})"


# -- flow compile --------------------------------------------------------------------------


def generated_flow(steps: int) -> str:
    lines = [f"name: big\nfallback: s{steps}\nsteps:"]
    lines += [f"  s{i}: {{type: announce, say: Step {i}, next: s{i + 1}}}" for i in range(steps)]
    lines.append(f"  s{steps}: {{type: hangup}}")
    return "\n".join(lines) + "\n"


def bench_compile() -> tuple[list[float], list[float]]:
    shipped, big = [], []
    text = generated_flow(500)
    for _ in range(RUNS):
        started = time.perf_counter()
        compile_flow(load_flow(FLOW))
        shipped.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        compile_flow(load_flow(text))
        big.append((time.perf_counter() - started) * 1000)
    return shipped, big


# -- the engine alone: its real Gateway and client, answered in process --------------------


async def bench_transitions(transfers: int) -> float:
    media = AcceptingMedia()
    engine = TransferEngine(
        "http://loopback",
        "devkey",
        SECRET,
        media=media,
        trunk="ST_x",
        clock=ManualClock(),
        capabilities=Capabilities(move=True, missing=frozenset()),
    )
    Loopback().install(engine.gateway.client, engine.gateway.dialer)
    transitions = 0
    started = time.perf_counter()
    for number in range(transfers):
        transfer = media.track(await engine.start(WARM, room=f"call-{number}"))
        outcome = await transfer.outcome
        assert outcome.kind == "merged", outcome
        transitions += 5
    elapsed = time.perf_counter() - started
    await engine.aclose()
    return transitions / elapsed


# -- against a sandbox in another process ---------------------------------------------------


def delayed(seconds: float) -> dict[str, Any]:
    """A sandbox whose every answer to a transfer's call comes `seconds` late (a round trip)."""
    faults = [{"rpc": rpc, "delay": seconds, "times": 10_000} for rpc in sorted(set(RPCS))]
    return {**FAST, "speed": 1, "faults": faults}


async def bench_against_sandbox(
    scenario: dict[str, Any], runs: int, *, traced: bool = False
) -> dict[str, list[float]]:
    """A long-lived engine and a warm straight-line client, interleaved; `traced`: and the
    engine again with an SDK tracer and meter provider set (in-memory exporter and reader)."""
    process, url = start_sandbox(scenario, (3 if traced else 2) * runs)
    figures: dict[str, list[float]] = {
        "ratio": [],
        "orchestrated": [],
        "straight": [],
        "cpu": [],
        "line_cpu": [],
        "traced_cpu": [],
    }
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    media = AcceptingMedia()
    engine = TransferEngine(url, "devkey", SECRET, media=media, trunk="ST_sandbox")
    line = api.LiveKitAPI(url, "devkey", SECRET, failover=False)
    rpcs: list[str] = []
    call = engine.gateway.call

    async def counted(log: Any, rpc: str, make: Any) -> Any:
        rpcs.append(rpc)
        return await call(log, rpc, make)

    try:
        await engine.capabilities()  # probed once, as in a worker process
        await line.room.list_rooms(api.ListRoomsRequest())  # connected, as the engine is
        engine.gateway.call = counted  # type: ignore[method-assign]
        for run in range(runs):  # interleaved: machine noise falls on both alike
            del rpcs[:]
            cpu, started = time.process_time(), time.perf_counter()
            transfer = media.track(await engine.start(WARM, room=f"call-{2 * run + 1}"))
            outcome = await transfer.outcome
            took = time.perf_counter() - started
            figures["cpu"].append((time.process_time() - cpu) * 1000)
            assert outcome.kind == "merged", outcome
            cpu, started = time.process_time(), time.perf_counter()
            line_rpcs = await straight_line(line, f"call-{2 * run + 2}", run)
            straight = time.perf_counter() - started
            figures["line_cpu"].append((time.process_time() - cpu) * 1000)
            assert sorted(rpcs) == sorted(line_rpcs), (rpcs, line_rpcs)  # the same calls
            figures["ratio"].append(took / straight)
            figures["orchestrated"].append(took * 1000)
            figures["straight"].append(straight * 1000)
            if traced:
                del rpcs[:]
                with use_providers(tracer_provider, meter_provider):
                    cpu = time.process_time()
                    room = f"call-{2 * runs + run + 1}"
                    transfer = media.track(await engine.start(WARM, room=room))
                    assert (await transfer.outcome).kind == "merged"
                    figures["traced_cpu"].append((time.process_time() - cpu) * 1000)
                assert len(spans.get_finished_spans()) > len(rpcs)  # a span per call, and more
                spans.clear()
    finally:
        await engine.aclose()
        await line.aclose()
        process.terminate()
        process.wait()
    return figures


def engine_setup(url: str) -> dict[str, float]:
    """A job's engine in a fresh event loop (a new worker process): clients, the first TCP
    connection and the capability probe; then a second job's engine in the same loop."""

    async def setup() -> dict[str, float]:
        figures = {}
        engines = []
        for name in ("engine_setup_ms", "engine_setup_warm_ms"):
            started = time.perf_counter()
            engine = TransferEngine(url, "devkey", SECRET, media=AcceptingMedia())
            await engine.capabilities()
            await engine.gateway.list_participants(engine._log, "nobody")
            figures[name] = (time.perf_counter() - started) * 1000
            engines.append(engine)
        for engine in engines:
            await engine.aclose()
        return figures

    return asyncio.run(setup())


async def bench_setup(runs: int) -> dict[str, list[float]]:
    process, url = start_sandbox(FAST, 1)
    try:
        rows = [await asyncio.to_thread(engine_setup, url) for _ in range(runs)]
    finally:
        process.terminate()
        process.wait()
    return {key: [row[key] for row in rows] for key in rows[0]}


# -- hold overhead, with realistic waits -----------------------------------------------------

RING, DECIDE = 0.3, 0.2  # seconds the phone rings, seconds the supervisor takes to press 1


class TimedMedia(RecordingMedia):
    """Stamps when the caller's hold starts and ends."""

    held_at: float = 0.0
    released_at: float = 0.0

    async def start_hold(self, room: str, music: str) -> None:
        self.held_at = time.perf_counter()
        await super().start_hold(room, music)

    async def stop_hold(self, room: str) -> None:
        self.released_at = self.released_at or time.perf_counter()
        await super().stop_hold(room)


def covered(spans: list[tuple[float, float]]) -> float:
    """Seconds during which at least one of the spans was open (overlapping calls once)."""
    total, reach = 0.0, float("-inf")
    for begin, end in sorted(spans):
        if end > reach:
            total += end - max(begin, reach)
            reach = end
    return total


async def one_hold(sandbox: Sandbox, engine: TransferEngine, room: str) -> float:
    sandbox.place_caller(room)
    media: Any = engine.media
    media.held_at = media.released_at = 0.0
    unsubscribe = connect(sandbox, engine, media)
    spans: list[tuple[float, float]] = []
    call = engine.gateway.call

    async def timed(log: Any, rpc: str, make: Any) -> Any:
        started = time.perf_counter()
        try:
            return await call(log, rpc, make)
        finally:
            # The dial's own round trip is inside RING: the phone answers at RING seconds.
            if media.held_at and not media.released_at and rpc != "SIP.CreateSIPParticipant":
                spans.append((started, time.perf_counter()))

    engine.gateway.call = timed  # type: ignore[method-assign]
    transfer = await engine.start(WARM, room=room)
    outcome = await transfer.outcome
    unsubscribe()
    engine.gateway.call = call  # type: ignore[method-assign]
    assert outcome.kind == "merged", outcome
    hold = media.released_at - media.held_at
    return (hold - RING - DECIDE - covered(spans)) * 1000


async def bench_hold(runs: int) -> list[float]:
    """Caller hold time minus the waits nobody can avoid: ringing, the supervisor's decision,
    and the time API calls were in flight while the caller held."""
    scenario = {"speed": 1, "phones": {"default": {"answer": RING, "decide_after": DECIDE}}}
    async with Sandbox(Scenario.model_validate(scenario), api_secret=SECRET) as sandbox:
        engine = TransferEngine(
            sandbox.url, "devkey", SECRET, media=TimedMedia(), trunk="ST_sandbox"
        )
        await engine.capabilities()
        try:
            return [await one_hold(sandbox, engine, f"hold-{run}") for run in range(runs)]
        finally:
            await engine.aclose()


# -- the run ---------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


async def main() -> None:
    # Logs are rendered (as JSON, as in production) and thrown away.
    configure_logging(json=True)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(DEVNULL))
    python = platform.python_version()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {python}", flush=True)
    compile_ms, big_ms = bench_compile()
    transitions = [await bench_transitions(200) for _ in range(5)]
    against = await bench_against_sandbox(FAST, RUNS, traced=True)
    slow = await bench_against_sandbox(delayed(0.020), max(10, RUNS // 2))
    setup = await bench_setup(max(5, RUNS // 3))
    hold = await bench_hold(max(5, RUNS // 3))
    reach = await ring_group.time_to_supervisor()
    group = await ring_group.group_cost(max(5, RUNS // 3))
    print(f"{CONCURRENT} transfers arriving over 10 s, phones ringing 2-20 s...", flush=True)
    arriving = await concurrency.run(CONCURRENT, poisson=True)
    print(f"{CONCURRENT} transfers started at once, phones ringing 2 s...", flush=True)
    burst = await concurrency.run(CONCURRENT, poisson=False)
    rows = [
        ("flow_compile_ms (warm_transfer.yaml)", compile_ms),
        ("flow_compile_ms (500-step flow)", big_ms),
        ("transitions_per_s (engine, real client, in-process answers)", transitions),
        ("overhead_ratio (engine / straight line, sandbox)", against["ratio"]),
        ("  engine transfer ms", against["orchestrated"]),
        ("  straight-line script ms", against["straight"]),
        ("overhead_ratio_20ms (every answer 20 ms late)", slow["ratio"]),
        ("  engine transfer ms", slow["orchestrated"]),
        ("  straight-line script ms", slow["straight"]),
        ("cpu_ms_per_transfer (long-lived engine)", against["cpu"]),
        ("cpu_ms_per_transfer_traced (SDK providers, in memory)", against["traced_cpu"]),
        ("  the straight line's CPU for the same calls", against["line_cpu"]),
        ("engine_setup_ms (a job's engine, new process)", setup["engine_setup_ms"]),
        ("  the next job's engine, same process", setup["engine_setup_warm_ms"]),
        ("hold_overhead_ms", hold),
        ("cpu_ms_per_transfer_group5 (a group of 5, all answer at once)", group["group5_cpu"]),
        ("  the same engine, one target", group["single_cpu"]),
        ("  group of 5 transfer ms", group["group5_ms"]),
        ("  one target transfer ms", group["single_ms"]),
    ]
    print(f"{'figure':<60}{'median':>10}  spread")
    for name, values in rows:
        print(f"{name:<60}{spread(values)}")
    print(
        f"time to supervisor, 3 targets ringing {ring_group.RING_S} s, the third answering "
        f"after {ring_group.ANSWER_S:g} s (simulated clock): group {reach['group']:.1f} s, "
        f"chain {reach['chain']:.1f} s"
    )
    for title, many in (("Poisson arrivals", arriving), ("burst", burst)):
        print(f"{CONCURRENT} in flight, {title}: {many['merged']} merged {many['outcomes']}")
        for key in (
            "p99_transition_ms",
            "median_transition_ms",
            "loop_lag_p99_ms",
            "extra_wait_p50_ms",
            "extra_wait_p99_ms",
            "rss_kb_per_transfer",
            "seconds",
        ):
            print(f"  {key:<58}{many[key]:10.3f}")
    results = {
        "overhead_ratio": round(median(against["ratio"]), 3),
        "overhead_ratio_20ms": round(median(slow["ratio"]), 3),
        "hold_overhead_ms": round(median(hold), 2),
        "cpu_ms_per_transfer": round(median(against["cpu"]), 2),
        "cpu_ms_per_transfer_traced": round(median(against["traced_cpu"]), 2),
        "straight_line_cpu_ms": round(median(against["line_cpu"]), 2),
        "engine_setup_ms": round(median(setup["engine_setup_ms"]), 2),
        "engine_setup_warm_ms": round(median(setup["engine_setup_warm_ms"]), 2),
        "transitions_per_s": round(median(transitions)),
        "concurrent_transfers": CONCURRENT,
        "concurrent_merged": arriving["merged"],
        "p99_transition_ms": round(arriving["p99_transition_ms"], 3),
        "loop_lag_p99_ms": round(arriving["loop_lag_p99_ms"], 3),
        "extra_wait_p99_ms": round(arriving["extra_wait_p99_ms"], 1),
        "burst_merged": burst["merged"],
        "burst_p99_transition_ms": round(burst["p99_transition_ms"], 3),
        "burst_loop_lag_p99_ms": round(burst["loop_lag_p99_ms"], 3),
        "rss_kb_per_transfer": round(
            max(burst["rss_kb_per_transfer"], arriving["rss_kb_per_transfer"]), 1
        ),
        "flow_compile_ms": round(median(compile_ms), 3),
        "flow_compile_ms_500_steps": round(median(big_ms), 2),
        "ring_group_time_to_supervisor_s": reach["group"],
        "ring_chain_time_to_supervisor_s": reach["chain"],
        "cpu_ms_per_transfer_group5": round(median(group["group5_cpu"]), 2),
        "cpu_ms_per_transfer_single": round(median(group["single_cpu"]), 2),
    }
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results))


if __name__ == "__main__":
    asyncio.run(main())
