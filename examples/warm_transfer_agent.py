"""A phone agent that hands its caller to a human supervisor with a warm transfer.

    python examples/warm_transfer_agent.py dev        # or: console, start

Needs LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET and LIVEKIT_SIP_OUTBOUND_TRUNK (the
outbound trunk that dials supervisors), and an inbound SIP trunk with a dispatch rule that sends
calls to this agent. The speech models are LiveKit Inference's, so the LiveKit credentials are
all it takes. WARM_TRANSFER_FLOW names the flow (default: flows/warm_transfer.yaml).

WARM_TRANSFER_OFFLINE=1 needs no model at all (`orchestrator.agents.offline`): the agent
greets in tones, then transfers every caller at once; with `make stack-up` (LiveKit's own
server and SIP bridge on this machine) that is a whole warm transfer without a cloud account
(`make real-demo` runs one, phones included).

LIVEKIT_AGENT_NAME is the name dispatch rules send calls to (livekit-agents reads it; unset,
the worker takes every room's automatic dispatch). The worker's HTTP health server listens
on WARM_TRANSFER_HTTP_HOST (default: every interface) and WARM_TRANSFER_HTTP_PORT (default
8081; 0 picks a free port: two workers on one machine need different ports).
WARM_TRANSFER_LOG_FORMAT=json logs one JSON object per line instead of the console format.

Telemetry (docs/telemetry.md): OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://127.0.0.1:4318) sends
spans and metrics over OTLP/HTTP (service OTEL_SERVICE_NAME, default warm-transfer-worker);
WARM_TRANSFER_PROMETHEUS_PORT (and WARM_TRANSFER_PROMETHEUS_HOST, default 127.0.0.1) serves
the metrics for Prometheus at /metrics (0: a free port, logged as `telemetry.prometheus`),
with the jobs run as threads of the worker process so that one endpoint counts them all.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from livekit.agents import (
    Agent,
    AgentServer,
    AgentSession,
    JobContext,
    JobExecutorType,
    JobProcess,
    cli,
)

from orchestrator import FlowError, TransferError, configure_logging, load_flow
from orchestrator.agents import WarmTransfer
from orchestrator.agents.offline import ScriptedLLM, ToneTTS
from orchestrator.agents.telemetry import prometheus_port, setup_telemetry

FLOW = Path(
    os.environ.get("WARM_TRANSFER_FLOW")
    or Path(__file__).resolve().parent.parent / "flows" / "warm_transfer.yaml"
)
INSTRUCTIONS = """You answer the phone for ACME's customer support. Be brief and friendly.
When the caller asks for a person, or needs something you cannot do (refunds, account
changes), tell them you will connect them, then call transfer_to_supervisor with the reason.
After it returns, follow what it says."""

OFFLINE = os.environ.get("WARM_TRANSFER_OFFLINE") == "1"

logger = logging.getLogger("warm-transfer-agent")


def http_port() -> int:
    """WARM_TRANSFER_HTTP_PORT, checked: a wrong value is named, not a traceback."""
    text = os.environ.get("WARM_TRANSFER_HTTP_PORT", "8081")
    if not text.isdigit() or int(text) > 65535:
        print(
            f"warm_transfer_agent: WARM_TRANSFER_HTTP_PORT={text!r} is not a port; "
            "set it to a number from 0 (any free port) to 65535",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return int(text)


def metrics_port() -> int | None:
    """WARM_TRANSFER_PROMETHEUS_PORT, checked like WARM_TRANSFER_HTTP_PORT."""
    try:
        return prometheus_port()
    except TransferError as error:
        print(f"warm_transfer_agent: {error}", file=sys.stderr)
        raise SystemExit(2) from None


# A job process's metrics would end with it: one endpoint needs the jobs in this process.
threads = {"job_executor_type": JobExecutorType.THREAD} if metrics_port() is not None else {}
server = AgentServer(
    host=os.environ.get("WARM_TRANSFER_HTTP_HOST", ""), port=http_port(), **threads
)


def prewarm(proc: JobProcess) -> None:
    configure_logging(json=os.environ.get("WARM_TRANSFER_LOG_FORMAT") == "json")
    setup_telemetry()  # once per process; nothing unless the environment asks for it
    # Loaded once per worker process; each job's transfers reuse it (and its compiled form).
    proc.userdata["flow"] = load_flow(FLOW)


server.setup_fnc = prewarm


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    ctx.add_shutdown_callback(setup_telemetry().flush)  # spans buffered when a job ends
    await ctx.connect()
    session: AgentSession[None] = (
        AgentSession(
            llm=ScriptedLLM(), tts=ToneTTS(), vad=None, turn_handling={"turn_detection": "manual"}
        )
        if OFFLINE
        else AgentSession(stt="deepgram/nova-3", llm="openai/gpt-4.1-mini", tts="cartesia/sonic-2")
    )
    transfer = WarmTransfer(ctx, session, ctx.proc.userdata["flow"], music_dir=FLOW.parent)
    try:
        recovered = await transfer.recover()  # a worker that died mid-transfer left this call
    except TransferError as error:
        logger.warning("could not check for an unfinished transfer: %s", error.reason)
        recovered = None
    if recovered is not None and recovered.kind in ("merged", "caller_hung_up"):
        return  # with their supervisor (this job follows their call to its end), or gone
    agent = Agent(instructions=INSTRUCTIONS, tools=[transfer.tool])
    await session.start(agent=agent, room=ctx.room)
    if recovered is not None:  # unwound: the caller was on hold when the last worker died
        greeting = "Apologise: the transfer to a supervisor dropped. Offer to try again."
    else:
        greeting = "Greet the caller and ask how you can help."
    await session.generate_reply(instructions=greeting)
    if OFFLINE and recovered is None:  # no ears to hear the caller ask: transfer at once
        await session.generate_reply(instructions="Call transfer_to_supervisor now.")


def check_flow() -> None:
    """Refuse to start with a flow that would fail on the first call, saying why."""
    try:
        load_flow(FLOW)
    except FlowError as error:
        print(f"warm_transfer_agent: the flow {FLOW} is not usable:", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem.render(error.source)}", file=sys.stderr)
        print("Set WARM_TRANSFER_FLOW to a valid flow file.", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    check_flow()
    cli.run_app(server)
