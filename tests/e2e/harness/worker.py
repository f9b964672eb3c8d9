"""The end-to-end tests' agent worker: `WarmTransfer` in a real livekit-agents worker.

    python tests/e2e/harness/worker.py start

Registers with the LiveKit in `LIVEKIT_URL` (`LIVEKIT_API_KEY`, `LIVEKIT_API_SECRET`) for
explicit dispatch as `E2E_AGENT_NAME`, and runs each job like a user's worker would, with the
offline models (`orchestrator.agents.offline`): greet, then transfer the caller with the flow
in `WARM_TRANSFER_FLOW` over `LIVEKIT_SIP_OUTBOUND_TRUNK`. Every job logs JSON lines to
`E2E_WORKER_EVENTS`: the library's structlog events (masked, as in production) and this
worker's own `e2e.*` events (what the session does, DTMF received, the job's end).

`E2E_STALL_AFTER_MERGE=1` makes the AI never leave after a merge (the worker hangs there,
checkpoint `merged` written): how the crash tests catch a worker dying at that moment.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
from pathlib import Path
from typing import Any

import structlog
from livekit import rtc
from livekit.agents import Agent, AgentServer, AgentSession, JobContext, cli

from orchestrator import configure_logging
from orchestrator.agents import WarmTransfer
from orchestrator.agents.offline import BriefingLLM, ScriptedLLM, ToneSTT, ToneTTS

FLOW = Path(os.environ.get("WARM_TRANSFER_FLOW", "flows/warm_transfer.yaml"))
INSTRUCTIONS = "You answer the phone. Transfer the caller to a supervisor when asked."

# Always available: this is a test machine with 2 cores, and the tests dispatch the jobs.
server = AgentServer(
    load_threshold=math.inf,
    load_fnc=lambda: 0.0,
    host="127.0.0.1",
    port=0,
    num_idle_processes=1,
)


def _events() -> Any:
    """structlog to the events file, one JSON object per line (this job's process)."""
    configure_logging(json=True)
    sink = open(os.environ["E2E_WORKER_EVENTS"], "a", buffering=1)  # noqa: SIM115
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sink))
    return structlog.get_logger("e2e.worker")


async def _watch_io(session: AgentSession[Any], log: Any) -> None:
    """Log whenever the session starts or stops listening to the caller or speaking."""
    seen: tuple[bool, bool] | None = None
    while True:
        now = (session.input.audio_enabled, session.output.audio_enabled)
        if now != seen:
            log.info("e2e.io", listening=now[0], speaking=now[1])
            seen = now
        await asyncio.sleep(0.05)


@server.rtc_session(agent_name=os.environ.get("E2E_AGENT_NAME", "e2e-warm-transfer"))
async def entrypoint(ctx: JobContext) -> None:
    log = _events().bind(room=ctx.room.name, pid=os.getpid())
    log.info("e2e.job_started")
    ctx.add_shutdown_callback(lambda reason: _ended(log, reason))

    def dtmf(event: rtc.SipDTMF) -> None:
        who = event.participant.identity if event.participant else ""
        log.info("e2e.dtmf", digit=event.digit, participant=who)

    ctx.room.on("sip_dtmf_received", dtmf)
    await ctx.connect()
    session: AgentSession[None] = AgentSession(
        llm=ScriptedLLM(), tts=ToneTTS(), vad=None, turn_handling={"turn_detection": "manual"}
    )
    session.on("agent_state_changed", lambda e: log.info("e2e.agent_state", state=e.new_state))
    session.on("close", lambda e: log.info("e2e.session_closed", reason=str(e.reason)))
    # The conversational brief's offline models (used when the flow's brief asks for them).
    transfer = WarmTransfer(ctx, session, FLOW, brief_llm=BriefingLLM(), brief_stt=ToneSTT())
    if os.environ.get("E2E_STALL_AFTER_MERGE"):
        transfer.media.agent_leave = _stall  # type: ignore[method-assign]
    recovered = await transfer.recover()
    log.info("e2e.recovered", outcome=recovered.kind if recovered else None)
    if recovered is not None and recovered.kind in ("merged", "caller_hung_up"):
        return
    await session.start(
        agent=Agent(instructions=INSTRUCTIONS, tools=[transfer.tool]), room=ctx.room
    )
    watching = asyncio.ensure_future(_watch_io(session, log))
    ctx.add_shutdown_callback(lambda: _cancel(watching))
    if recovered is not None:
        await session.generate_reply(instructions="Apologise: the transfer dropped.")
        return
    await session.generate_reply(instructions="Greet the caller.")
    await session.generate_reply(
        instructions="The caller asks for a supervisor: call transfer_to_supervisor."
    )


async def _stall(room: str) -> None:
    structlog.get_logger("e2e.worker").info("e2e.stalled_after_merge")
    await asyncio.Event().wait()


async def _ended(log: Any, reason: str) -> None:
    log.info("e2e.job_ended", reason=reason)


async def _cancel(task: asyncio.Future[None]) -> None:
    task.cancel()


if __name__ == "__main__":
    if not FLOW.is_file():
        sys.exit(f"worker: no flow at {FLOW}")
    cli.run_app(server)
