"""The real worker's telemetry in real backends, and the real stack's speed at the phones.

One example worker (`examples/warm_transfer_agent.py`, offline models) serves the module's
calls, as a deployment does: its spans go over OTLP/HTTP to Jaeger v2, its metrics endpoint
is scraped by Prometheus (`backends.py`). Three transfers (merged, declined, merged) are
timed at the phones, from the SIP and RTP they received (docs/real-stack-speed.md defines the
figures); then Prometheus' HTTP API must count them by outcome, and Jaeger's query API must
give back each transfer's trace: the livekit-agents `function_tool` span as the
`warm_transfer` span's parent, its steps, the dial with its SIP status.

The backends and their checks need the library's telemetry (`orchestrator.telemetry`); without
it the transfers still run and are timed, and the two checks are skipped, saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator import TransferEngine, load_flow
from orchestrator.sandbox.scenario import PhoneSpec
from orchestrator.testing import RecordingMedia
from stack.run import READY_S
from tests.e2e.harness.backends import Jaeger, Prometheus, free_port
from tests.e2e.harness.deadline import until
from tests.e2e.harness.figures import FIGURES
from tests.e2e.harness.real import RealTarget
from tests.e2e.harness.rtp import Heard, purity
from tests.e2e.harness.sandboxed import SandboxTarget
from tests.e2e.harness.targets import BUSINESS, CALLER, SUPERVISOR
from tests.e2e.harness.workers import Worker

ROOT = Path(__file__).resolve().parent.parent.parent
TELEMETRY = importlib.util.find_spec("orchestrator.telemetry") is not None
NO_TELEMETRY = (
    "the library has no orchestrator.telemetry yet (issue 24 items 1-2): the worker "
    "exports no spans or metrics to check"
)
AGENT = "e2e-observed"
SERVICE = "warm-transfer-e2e"
AI, CALLER_HZ, SUPERVISOR_HZ = 1500.0, 440.0, 1000.0
SOUND = 8.0  # RMS over digital silence (which decodes to 0..8; tests/e2e/harness/rtp.py)
# Steps whose time is speech or a person (docs/real-stack-speed.md, real_engine_ms).
WAITING_STEPS = {"hold", "brief", "announce", "return_to_agent", "exit"}
# (room, what the supervisor's phone does): answers and presses 1, or 2; or is busy.
SCENARIOS = [
    ("merge-1", "accept"),
    ("decline", "decline"),
    ("busy", "busy"),
    ("merge-2", "accept"),
]
OUTCOMES = {
    "accept": ("merged", None),
    "decline": ("returned", "declined"),
    "busy": ("returned", "busy"),
}


@dataclass
class Observed:
    worker: Worker
    jaeger: Jaeger | None
    prometheus: Prometheus | None
    transfers: dict[str, str] = field(default_factory=dict)
    """transfer id -> outcome, for every transfer the scenarios ran."""

    def logged(self, name: str, **fields: Any) -> list[dict[str, Any]]:
        """The library's JSON log events in the worker's output, matching `fields`."""
        found = []
        for line in self.worker.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if (
                    isinstance(event, dict)
                    and event.get("event") == name
                    and all(event.get(k) == v for k, v in fields.items())
                ):
                    found.append(event)
        return found

    async def wait(self, name: str, seconds: float, **fields: Any) -> dict[str, Any]:
        await until(lambda: bool(self.logged(name, **fields)), seconds, f"{name} {fields}")
        return self.logged(name, **fields)[0]


def unix(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()


def monotonic(at: float) -> float:
    """A Unix time on the monotonic clock the phones' RTP is stamped with."""
    return at - time.time() + time.monotonic()


def _sync_until(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {seconds:.0f} s: {what}")
        time.sleep(0.05)  # a poll interval, under the deadline above


@pytest.fixture(scope="module")
def observed(stack: dict[str, str], carrier_trunk: str) -> Iterator[Observed]:
    """The example worker, with Jaeger and Prometheus when the library has telemetry."""
    folder = ROOT / "build" / "e2e" / "observability"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if old.is_file():
            old.unlink()
    jaeger = prometheus = None
    options = {
        "LIVEKIT_AGENT_NAME": AGENT,
        "WARM_TRANSFER_OFFLINE": "1",
        "WARM_TRANSFER_LOG_FORMAT": "json",
        "WARM_TRANSFER_HTTP_HOST": "127.0.0.1",
        "WARM_TRANSFER_HTTP_PORT": "0",
        "PYTHONPATH": f"{ROOT}:{ROOT / 'examples'}",
    }
    # The example's code, reporting no load (`example_worker.py` says why).
    script = "tests/e2e/harness/example_worker.py"
    worker = Worker(folder, stack, carrier_trunk, "worker", script=script)
    try:
        if TELEMETRY:
            jaeger = Jaeger(folder)
            jaeger.start()
            metrics = free_port()
            prometheus = Prometheus(folder, metrics)
            prometheus.start()
            options |= {
                "OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.endpoint,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_SERVICE_NAME": SERVICE,
                "OTEL_BSP_SCHEDULE_DELAY": "200",  # ms: spans reach Jaeger soon after
                "WARM_TRANSFER_PROMETHEUS_HOST": "127.0.0.1",
                "WARM_TRANSFER_PROMETHEUS_PORT": str(metrics),
            }
        worker.env |= options
        worker.start()
        _sync_until(lambda: "registered worker" in worker.log.read_text(), 60, "worker up")
        if prometheus is not None:
            _sync_until(prometheus.target_up, READY_S, "Prometheus scraping the worker")
        yield Observed(worker, jaeger, prometheus)
    finally:
        worker.stop()
        for backend in (prometheus, jaeger):
            if backend is not None:
                backend.stop()


def first_music(heard: Heard, since: float, run: int = 10) -> float | None:
    """When the hold music reached the phone after `since` (monotonic): the first of `run`
    packets in a row (0.2 s) over digital silence that are no test tone (the AI's voice, a
    phone's). Over silence, not loud: the music fades in from nearly nothing. A run, not one
    packet: a packet where a spoken tone starts or stops is no pure tone."""
    tones = (AI, CALLER_HZ, SUPERVISOR_HZ)
    begun, count = None, 0
    for (at, level), payload in zip(heard.audio, heard.payloads, strict=True):
        if at < since:
            continue
        if level > SOUND and all(purity(payload, hz) <= 0.5 for hz in tones):
            begun, count = (begun if count else at), count + 1
            if count >= run:
                return begun
        else:
            count = 0
    return None


def keep_audio(heard: Heard, since: float, path: Path) -> None:
    """What the phone received from `since`: seconds, loudness, and the AI tone's purity per
    packet (to see what the figures were measured on)."""
    rows = [
        f"{at - since:.3f}\t{level:.0f}\t{purity(payload, AI):.2f}"
        for (at, level), payload in zip(heard.audio, heard.payloads, strict=True)
        if at >= since
    ]
    path.write_text("seconds\tloudness\tai_tone\n" + "\n".join(rows) + "\n")


@pytest.mark.parametrize(("room", "supervisor"), SCENARIOS)
async def test_a_real_transfer_timed_at_the_phones(
    real: RealTarget, observed: Observed, room: str, supervisor: str
) -> None:
    if supervisor == "busy":
        spec = PhoneSpec(answer="busy")
    else:
        spec = PhoneSpec(answer=1.0, on_brief=supervisor, decide_after=2.0)  # type: ignore[arg-type]
    await real.phones({SUPERVISOR: spec})
    await real.call_in(f"observed-{room}", agent=AGENT)
    started = await observed.wait("transfer.started", 60, room=f"observed-{room}")
    transfer = started["transfer_id"]
    asked = unix(started)
    caller, carrier = real.caller, real.carrier
    assert caller is not None
    assert carrier is not None
    try:
        finished = await observed.wait("transfer.finished", 90, transfer_id=transfer)
        assert (finished["outcome"], finished["reason"]) == OUTCOMES[supervisor]
        observed.transfers[transfer] = finished["outcome"]
        # The hold music at the caller's phone (after the flow's hold announcement). Not
        # with a busy line: it refuses the INVITE within milliseconds, so the music, which
        # fades in from silence, is stopped before it is audible (build/e2e/*busy*/).
        assert caller.heard is not None
        if supervisor != "busy":
            held = first_music(caller.heard, monotonic(asked))
            assert held is not None, "no hold music reached the caller's phone"
            FIGURES.speed("real_time_to_hold_ms", held - monotonic(asked))
        # The INVITE at the supervisor's phone (sipp's trace: Unix time).
        (invite,) = carrier.invites()
        assert invite.at > asked
        FIGURES.speed("real_time_to_ring_ms", invite.at - asked)
        if supervisor == "accept":
            await _merged(real, observed, transfer)
        await real.hang_up_caller()
        if supervisor == "accept":  # the merged call ends with the caller: the job follows
            await observed.wait("transfer.call_ended", 10, transfer_id=transfer)
    finally:
        for name, heard in (("caller", caller.heard), ("supervisor", carrier.heard(SUPERVISOR))):
            if heard is not None:
                keep_audio(heard, monotonic(asked), real.folder / f"{name}-audio.tsv")


async def _merged(real: RealTarget, observed: Observed, transfer: str) -> None:
    """The supervisor's "1" to both phones hearing each other (accept_to_merged)."""
    assert real.caller is not None
    assert real.carrier is not None
    ((_, digit, pressed),) = real.carrier.pressed
    assert digit == "1"
    since = monotonic(pressed)
    caller, supervisor = real.caller.heard, real.carrier.heard(SUPERVISOR)
    assert caller is not None
    assert supervisor is not None

    def both() -> float | None:
        heard = caller.first_tone(SUPERVISOR_HZ, since)
        spoken = supervisor.first_tone(CALLER_HZ, since)
        return None if heard is None or spoken is None else max(heard, spoken)

    await real.until(lambda: both() is not None, 10, "both phones hearing each other")
    merged = both()
    assert merged is not None
    FIGURES.speed("real_accept_to_merged_ms", merged - since)


class _TimedMedia(RecordingMedia):
    """The sandbox's media double, stamping when the hold starts."""

    held_at: float | None = None

    async def start_hold(self, room: str, music: str) -> None:
        self.held_at = self.held_at or time.monotonic()
        await super().start_hold(room, music)


async def test_the_same_steps_in_the_sandbox(sandbox: SandboxTarget) -> None:
    """The engine alone against the sandbox (flavor oss: the same `in_room` merge), the
    supervisor answering after 1 s and pressing 1 after 2 s, for the `sandbox_*` figures
    beside the real ones: the transfer's start to the hold started (no announcement: the
    double says nothing) and to the dial sent (the sandbox's phone rings on it), and the
    digit's arrival to the merged outcome (no audio to hear)."""
    room = "sandbox-timed"
    await sandbox.phones({SUPERVISOR: PhoneSpec(answer=1.0, on_brief="accept", decide_after=2.0)})
    await sandbox.call_in(room)
    media = _TimedMedia()
    engine = TransferEngine(
        sandbox.url, sandbox.api_key, sandbox.api_secret, media=media, trunk=sandbox.trunk
    )
    sandbox.feed(engine, media, room)
    dialled: list[float] = []
    pressed: list[float] = []
    call = engine.gateway.call

    async def timed(log: Any, rpc: str, make: Any) -> Any:
        if rpc == "SIP.CreateSIPParticipant":
            dialled.append(time.monotonic())
        return await call(log, rpc, make)

    def digit(event: Any) -> None:
        if event.kind == "sip_dtmf_received":
            pressed.append(time.monotonic())

    engine.gateway.call = timed  # type: ignore[method-assign]
    stop = sandbox.sandbox.subscribe(digit)
    try:
        await engine.capabilities()  # probed before, as a worker's engine has
        started = time.monotonic()
        transfer = await engine.start(load_flow(ROOT / "flows" / "warm_transfer.yaml"), room=room)
        outcome = await asyncio.wait_for(transfer.outcome, 60)
        merged = time.monotonic()
    finally:
        stop()
        await engine.aclose()
    assert outcome.kind == "merged", outcome
    assert media.held_at is not None
    dials = [at for at in dialled if at > started]  # (not the capability probe's)
    assert dials
    assert pressed
    FIGURES.speed("sandbox_time_to_hold_ms", media.held_at - started)
    FIGURES.speed("sandbox_time_to_ring_ms", dials[0] - started)
    FIGURES.speed("sandbox_accept_to_merged_ms", merged - pressed[0])


# -- the backends ------------------------------------------------------------------------------


def _counts(prometheus: Prometheus) -> dict[tuple[str, str], float]:
    rows = prometheus.query("sum by (outcome, reason) (warm_transfer_finished_total)")
    return {
        (r["metric"].get("outcome", ""), r["metric"].get("reason", "")): float(r["value"][1])
        for r in rows
    }


def _scalar(prometheus: Prometheus, expression: str) -> float | None:
    rows = prometheus.query(expression)
    return float(rows[0]["value"][1]) if rows else None


@pytest.mark.skipif(not TELEMETRY, reason=NO_TELEMETRY)
async def test_prometheus_counts_the_real_transfers(observed: Observed) -> None:
    prometheus = observed.prometheus
    assert prometheus is not None
    assert len(observed.transfers) == len(SCENARIOS), observed.transfers  # they all ran
    want = {("merged", ""): 2.0, ("returned", "declined"): 1.0, ("returned", "busy"): 1.0}
    # Scraped every second: the counts land within a few scrapes of the last transfer.
    with contextlib.suppress(TimeoutError):
        await until(lambda: _counts(prometheus) == want, 20, "the counts in Prometheus")
    assert _counts(prometheus) == want
    assert _scalar(prometheus, "sum(warm_transfer_started_total)") == 4.0
    assert _scalar(prometheus, "sum(warm_transfer_active)") == 0.0
    assert _scalar(prometheus, "sum(warm_transfer_attempts_count)") == 4.0
    assert _scalar(prometheus, "sum(warm_transfer_attempts_sum)") == 4.0  # one dial each
    # Answered, then merged or briefed: not the busy one.
    answers = "sum(warm_transfer_supervisor_answer_duration_seconds_count)"
    assert _scalar(prometheus, answers) == 3.0
    assert _scalar(prometheus, "sum(warm_transfer_callers_lost_on_hold_total)") in (None, 0.0)
    dials = "sum by (rpc_response_status_code) (rpc_client_duration_seconds_count"
    dials += '{rpc_method="CreateSIPParticipant"})'
    codes = {
        r["metric"].get("rpc_response_status_code", ""): float(r["value"][1])
        for r in prometheus.query(dials)
    }
    # Three dials answered; the busy phone's 486 comes back as Twirp's resource_exhausted.
    # (Each job's capability probe adds an invalid_argument one: not counted here.)
    assert (codes.get("ok"), codes.get("resource_exhausted")) == (3.0, 1.0), codes
    FIGURES.prometheus_checked = True


def _tags(span: dict[str, Any]) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in span.get("tags", [])}


def _parent(span: dict[str, Any]) -> str | None:
    for reference in span.get("references", []):
        if reference.get("refType") == "CHILD_OF":
            parent: str = reference["spanID"]
            return parent
    return None


def covered(spans: list[tuple[int, int]]) -> int:
    """How long at least one of the intervals was open (overlaps once)."""
    total, reach = 0, -(1 << 62)
    for begin, end in sorted(spans):
        if end > reach:
            total += end - max(begin, reach)
            reach = end
    return total


def engine_ms(transfer: dict[str, Any], spans: list[dict[str, Any]]) -> float:
    """The `warm_transfer` span's duration less the time covered by its LiveKit calls, its
    dial attempts, and its steps that speak or wait for a person (docs/real-stack-speed.md)."""
    children: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        children.setdefault(_parent(span) or "", []).append(span)
    waits: list[tuple[int, int]] = []
    todo = list(children.get(transfer["spanID"], []))
    while todo:
        span = todo.pop()
        name = span["operationName"]
        step_type = _tags(span).get("transfer.step.type")
        if name.startswith(("livekit.", "dial ")) or step_type in WAITING_STEPS:
            waits.append((span["startTime"], span["startTime"] + span["duration"]))
        else:
            todo.extend(children.get(span["spanID"], []))
    begin = transfer["startTime"]
    inside = [(max(b, begin), min(e, begin + transfer["duration"])) for b, e in waits]
    return (transfer["duration"] - covered([(b, e) for b, e in inside if e > b])) / 1000


def _check_trace(trace: dict[str, Any], transfer: str, outcome: str) -> float:
    """The transfer's trace has the agreed shape; returns the engine's own ms."""
    spans: list[dict[str, Any]] = trace["spans"]
    by_id = {span["spanID"]: span for span in spans}
    (root,) = [
        s
        for s in spans
        if s["operationName"] == "warm_transfer" and _tags(s).get("transfer.id") == transfer
    ]
    tags = _tags(root)
    assert tags["transfer.flow"] == "warm_transfer"
    assert tags["transfer.outcome"] == outcome
    parent = by_id.get(_parent(root) or "")
    assert parent is not None, "the warm_transfer span has no parent in its trace"
    assert parent["operationName"] == "function_tool"
    steps = sorted(
        (
            s
            for s in spans
            if _parent(s) == root["spanID"] and s["operationName"].startswith("step ")
        ),
        key=lambda s: s["startTime"],
    )
    names = [s["operationName"].removeprefix("step ") for s in steps]
    busy = tags["transfer.reason"] == "busy"
    want = ["hold_caller", "dial_supervisor"]
    want += ["return_to_agent"] if busy else ["brief_supervisor"]
    want += [] if busy else ["merge_call" if outcome == "merged" else "return_to_agent"]
    assert names[: len(want)] == want, names
    assert [_tags(s)["transfer.step.type"] for s in steps[:2]] == ["hold", "dial"]
    (dial,) = [
        s
        for s in spans
        if _parent(s) == steps[1]["spanID"] and s["operationName"].startswith("dial ")
    ]
    dialled = _tags(dial)
    assert dial["operationName"] == "dial on_call_supervisor"
    assert dialled["transfer.caller_id"] == "caller"
    # The SIP status is the refusal's (486 Busy Here); an answered dial has none.
    result, status = ("busy", 486) if busy else ("answered", None)
    assert (dialled["transfer.attempt.result"], dialled.get("sip.status_code")) == (
        result,
        status,
    )
    (call,) = [
        s
        for s in spans
        if _parent(s) == dial["spanID"]
        and s["operationName"] == "livekit.SIP/CreateSIPParticipant"
    ]
    rpc = _tags(call)
    assert (rpc["rpc.system"], rpc["rpc.service"], rpc["rpc.method"]) == (
        "twirp",
        "livekit.SIP",
        "CreateSIPParticipant",
    )
    assert (rpc["rpc.response.status_code"] == "ok") is not busy, rpc
    assert rpc.get("span.kind") == "client"
    # No attribute carries a phone number (masked as the logs are).
    numbers = {n.lstrip("+") for n in (CALLER, SUPERVISOR, BUSINESS)}
    for span in spans:
        for value in _tags(span).values():
            assert not any(n in str(value) for n in numbers), (span["operationName"], value)
    return engine_ms(root, spans)


@pytest.mark.skipif(not TELEMETRY, reason=NO_TELEMETRY)
async def test_jaeger_holds_each_transfers_trace(observed: Observed) -> None:
    jaeger = observed.jaeger
    assert jaeger is not None
    assert len(observed.transfers) == len(SCENARIOS)  # the scenarios above ran

    def traces() -> dict[str, dict[str, Any]]:
        found = {}
        for trace in jaeger.traces(SERVICE, "warm_transfer"):
            for span in trace["spans"]:
                transfer = _tags(span).get("transfer.id")
                if span["operationName"] == "warm_transfer" and transfer in observed.transfers:
                    found[transfer] = trace
        return found

    await until(lambda: len(traces()) == len(observed.transfers), 20, "the traces in Jaeger")
    for transfer, trace in traces().items():
        # Kept beside the worker's log, to see what `real_engine_ms` was computed from.
        keep = observed.worker.log.parent / f"trace-{transfer}.json"
        keep.write_text(json.dumps(trace, indent=1))
        FIGURES.speed(
            "real_engine_ms", _check_trace(trace, transfer, observed.transfers[transfer]) / 1000
        )
    FIGURES.otel_trace_checked = True
