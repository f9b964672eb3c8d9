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
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import structlog
from livekit import api

from orchestrator import TransferEngine, compile_flow, configure_logging, load_flow
from orchestrator.clock import ManualClock
from orchestrator.livekit import Participant
from orchestrator.livekit.probe import Capabilities
from orchestrator.sandbox import Sandbox, Scenario
from orchestrator.simulate import connect
from orchestrator.testing import RecordingMedia

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "flows" / "warm_transfer.yaml"
SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuv"
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


# -- the engine alone, on an in-process fake of the LiveKit API ----------------------------


class FakeGateway:
    """Answers every call at once, in process: what is left is the engine's own cost."""

    async def list_participants(self, log: Any, room: str) -> list[Participant]:
        return [Participant("caller", "sip", {"sip.phoneNumber": "+14155552671"})]

    async def _nothing(self, *args: Any, **kwargs: Any) -> None:
        return None

    set_attributes = create_room = delete_room = remove_participant = dial = move = _nothing

    async def close(self) -> None:
        return None


class AcceptingMedia(RecordingMedia):
    """The supervisor presses 1 as soon as the brief is spoken."""

    engine: TransferEngine | None = None

    async def brief(self, room: str, supervisor: str, text: str) -> None:
        assert self.engine is not None
        for transfer in self.engine.active.values():
            transfer.dtmf(room, supervisor, "1")


async def bench_transitions(transfers: int) -> float:
    flow = load_flow(FLOW)
    media = AcceptingMedia()
    engine = TransferEngine(
        "http://fake",
        "k",
        "s",
        media=media,
        trunk="ST_x",
        clock=ManualClock(),
        capabilities=Capabilities(move=True, missing=frozenset()),
    )
    media.engine = engine
    await engine.gateway.close()
    engine.gateway = FakeGateway()  # type: ignore[assignment]
    transitions = 0
    started = time.perf_counter()
    for number in range(transfers):
        transfer = await engine.start(flow, room=f"call-{number}")
        transfer.add_listener(lambda *_: None)
        outcome = await transfer.outcome
        assert outcome.kind == "merged", outcome
        transitions += 5
    return transitions / (time.perf_counter() - started)


# -- against a sandbox in another process ---------------------------------------------------


def start_sandbox(scenario: dict[str, Any], callers: int) -> tuple[subprocess.Popen[str], str]:
    """A sandbox in its own process, so its CPU is not counted as ours."""
    path = ROOT / "bench" / ".scenario.json"
    path.write_text(json.dumps(scenario))  # JSON is YAML
    command = [sys.executable, "-m", "orchestrator", "sandbox", "--port", "0"]
    command += ["--scenario", str(path), "--api-secret", SECRET, "--callers", str(callers)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    for line in process.stdout:
        if match := re.search(r"LIVEKIT_URL=(\S+)", line):
            return process, match[1]
    raise RuntimeError("the sandbox did not start")


async def orchestrated(url: str, room: str) -> tuple[float, list[str], Any]:
    """One warm transfer by the engine; the supervisor accepts as soon as the brief starts."""
    media = AcceptingMedia()
    engine = TransferEngine(url, "devkey", SECRET, media=media, trunk="ST_sandbox")
    media.engine = engine
    await engine.capabilities()  # probed once per engine, as in a worker process
    rpcs: list[str] = []
    call = engine.gateway.call

    async def counted(log: Any, rpc: str, make: Any) -> Any:
        rpcs.append(rpc)
        return await call(log, rpc, make)

    engine.gateway.call = counted  # type: ignore[method-assign]
    started = time.perf_counter()
    transfer = await engine.start(WARM, room=room)
    outcome = await transfer.outcome
    elapsed = time.perf_counter() - started
    await engine.aclose()
    assert outcome.kind == "merged", outcome
    return elapsed, rpcs, outcome


async def straight_line(url: str, room: str, run: int) -> tuple[float, list[str]]:
    """The same calls with livekit-api, one after another, and nothing else."""
    client = api.LiveKitAPI(url, "devkey", SECRET, failover=False)
    consult, supervisor, caller = f"straight-{run}", f"sup-straight-{run}", "sip_+14155552671"
    rpcs: list[str] = []

    def state(value: str) -> dict[str, str]:
        return {"transfer.id": "x", "transfer.state": value, "transfer.consult_room": consult}

    started = time.perf_counter()
    rpcs.append("RoomService.ListParticipants")
    await client.room.list_participants(api.ListParticipantsRequest(room=room))
    rpcs.append("RoomService.UpdateParticipant")
    await client.room.update_participant(
        api.UpdateParticipantRequest(room=room, identity=caller, attributes=state("held"))
    )
    rpcs.append("RoomService.CreateRoom")
    await client.room.create_room(
        api.CreateRoomRequest(name=consult, empty_timeout=60, departure_timeout=20)
    )
    rpcs.append("SIP.CreateSIPParticipant")
    dial = api.CreateSIPParticipantRequest(
        sip_trunk_id="ST_sandbox",
        sip_call_to="+15105550100",
        sip_number="+14155552671",
        room_name=consult,
        participant_identity=supervisor,
        wait_until_answered=True,
    )
    dial.ringing_timeout.FromSeconds(25)
    await client.sip.create_sip_participant(dial, timeout=35)
    rpcs.append("RoomService.UpdateParticipant")
    await client.room.update_participant(
        api.UpdateParticipantRequest(room=room, identity=caller, attributes=state("briefing"))
    )
    rpcs.append("RoomService.MoveParticipant")
    await client.room.move_participant(
        api.MoveParticipantRequest(room=consult, identity=supervisor, destination_room=room)
    )
    rpcs.append("RoomService.UpdateParticipant")
    await client.room.update_participant(
        api.UpdateParticipantRequest(room=room, identity=caller, attributes=state("merged"))
    )
    rpcs.append("RoomService.DeleteRoom")
    try:
        await client.room.delete_room(api.DeleteRoomRequest(room=consult))
    except api.TwirpError as error:  # an empty room may have closed already, as for the engine
        if error.code != "not_found":
            raise
    rpcs.append("RoomService.UpdateParticipant")
    cleared = dict.fromkeys(state(""), "")
    await client.room.update_participant(
        api.UpdateParticipantRequest(room=room, identity=caller, attributes=cleared)
    )
    elapsed = time.perf_counter() - started
    await client.aclose()
    return elapsed, rpcs


async def bench_against_sandbox() -> dict[str, list[float]]:
    process, url = start_sandbox(FAST, 2 * RUNS)
    figures: dict[str, list[float]] = {"ratio": [], "orchestrated": [], "straight": [], "cpu": []}
    try:
        for run in range(RUNS):  # interleaved: machine noise falls on both alike
            cpu = time.process_time()
            took, engine_rpcs, _ = await orchestrated(url, f"call-{2 * run + 1}")
            figures["cpu"].append((time.process_time() - cpu) * 1000)
            line, line_rpcs = await straight_line(url, f"call-{2 * run + 2}", run)
            assert engine_rpcs == line_rpcs, (engine_rpcs, line_rpcs)  # exactly the same calls
            figures["ratio"].append(took / line)
            figures["orchestrated"].append(took * 1000)
            figures["straight"].append(line * 1000)
    finally:
        process.terminate()
        process.wait()
    return figures


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
        self.released_at = time.perf_counter()
        await super().stop_hold(room)


async def one_hold(sandbox: Sandbox, room: str) -> float:
    sandbox.place_caller(room)
    media = TimedMedia()
    engine = TransferEngine(sandbox.url, "devkey", SECRET, media=media, trunk="ST_sandbox")
    unsubscribe = connect(sandbox, engine, media)
    round_trips: list[float] = []
    call = engine.gateway.call

    async def timed(log: Any, rpc: str, make: Any) -> Any:
        started = time.perf_counter()
        try:
            return await call(log, rpc, make)
        finally:
            # The dial's own round trip is inside RING: the phone answers at RING seconds.
            if media.held_at and not media.released_at and rpc != "SIP.CreateSIPParticipant":
                round_trips.append(time.perf_counter() - started)

    engine.gateway.call = timed  # type: ignore[method-assign]
    transfer = await engine.start(WARM, room=room)
    outcome = await transfer.outcome
    unsubscribe()
    await engine.aclose()
    assert outcome.kind == "merged", outcome
    hold = media.released_at - media.held_at
    return (hold - RING - DECIDE - sum(round_trips)) * 1000


async def bench_hold(runs: int) -> list[float]:
    """Caller hold time minus the waits nobody can avoid: ringing, the supervisor's decision,
    and the API round trips made while the caller holds."""
    scenario = {"speed": 1, "phones": {"default": {"answer": RING, "decide_after": DECIDE}}}
    async with Sandbox(Scenario.model_validate(scenario), api_secret=SECRET) as sandbox:
        return [await one_hold(sandbox, f"hold-{run}") for run in range(runs)]


# -- many at once ----------------------------------------------------------------------------


def rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() // 1024


async def bench_concurrent(count: int) -> dict[str, float]:
    """`count` transfers at once in this process; the sandbox runs in another one."""
    scenario = {"speed": 1, "phones": {"default": {"answer": 2.0, "decide_after": 0.0}}}
    process, url = start_sandbox(scenario, count)
    try:
        media = AcceptingMedia()
        engine = TransferEngine(url, "devkey", SECRET, media=media, trunk="ST_sandbox")
        media.engine = engine
        before = rss_kb()
        transfers = await asyncio.gather(
            *(engine.start(WARM, room=f"call-{number}") for number in range(1, count + 1))
        )
        await asyncio.sleep(1.0)  # every one of them is dialling: measure what they hold now
        during = rss_kb()
        outcomes = await asyncio.gather(*(t.outcome for t in transfers))
        await engine.aclose()
    finally:
        process.terminate()
        process.wait()
    latencies = sorted(latency for t in transfers for latency in t.transition_latencies)
    return {
        "merged": sum(o.kind == "merged" for o in outcomes),
        "p99_transition_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "median_transition_ms": statistics.median(latencies) * 1000,
        "rss_kb_per_transfer": (during - before) / count,
    }


async def main() -> None:
    # Logs are rendered (as JSON, as in production) and thrown away.
    configure_logging(json=True)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(DEVNULL))
    python = platform.python_version()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {python}")
    compile_ms, big_ms = bench_compile()
    transitions = [await bench_transitions(200) for _ in range(5)]
    against = await bench_against_sandbox()
    hold = await bench_hold(max(5, RUNS // 3))
    many = await bench_concurrent(CONCURRENT)
    rows = [
        ("flow_compile_ms (warm_transfer.yaml)", compile_ms),
        ("flow_compile_ms (500-step flow)", big_ms),
        ("transitions_per_s (engine, fake API)", transitions),
        ("overhead_ratio (orchestrator / straight line)", against["ratio"]),
        ("  orchestrated transfer ms", against["orchestrated"]),
        ("  straight-line script ms", against["straight"]),
        ("cpu_ms_per_transfer (sandbox in another process)", against["cpu"]),
        ("hold_overhead_ms", hold),
    ]
    print(f"{'figure':<52}{'median':>10}  spread")
    for name, values in rows:
        print(f"{name:<52}{spread(values)}")
    print(f"{'concurrent_transfers':<52}{CONCURRENT:10d}  ({many['merged']:.0f} merged)")
    median = many["median_transition_ms"]
    print(f"{'p99_transition_ms':<52}{many['p99_transition_ms']:10.3f}  (median {median:.3f})")
    print(f"{'rss_kb_per_transfer':<52}{many['rss_kb_per_transfer']:10.1f}")
    results = {
        "overhead_ratio": round(statistics.median(against["ratio"]), 3),
        "hold_overhead_ms": round(statistics.median(hold), 2),
        "cpu_ms_per_transfer": round(statistics.median(against["cpu"]), 2),
        "transitions_per_s": round(statistics.median(transitions)),
        "concurrent_transfers": CONCURRENT,
        "p99_transition_ms": round(many["p99_transition_ms"], 3),
        "rss_kb_per_transfer": round(many["rss_kb_per_transfer"], 1),
        "flow_compile_ms": round(statistics.median(compile_ms), 3),
        "flow_compile_ms_500_steps": round(statistics.median(big_ms), 2),
    }
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results))


if __name__ == "__main__":
    asyncio.run(main())
