"""`WarmTransfer`: a flow-driven warm transfer in a livekit-agents worker, in a few lines.

```python
transfer = WarmTransfer(ctx, session, "flows/warm_transfer.yaml", reload=True)
await transfer.recover()  # once, after ctx.connect(): finishes what a dead worker left
agent = Agent(instructions="...", tools=[transfer.tool])
```
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog
from livekit import rtc
from livekit.agents import (
    AgentSession,
    FunctionTool,
    JobContext,
    RunContext,
    function_tool,
    llm,
    stt,
)

from orchestrator.agents.events import EventFeed
from orchestrator.agents.media import AgentMedia, Screen
from orchestrator.agents.replies import NO_CALLER, for_error, for_outcome
from orchestrator.agents.summary import SUMMARY_CHARS, Summarizer, bounded, summarize_chat
from orchestrator.clock import Clock
from orchestrator.engine import RoomEvents, Transfer, TransferEngine, TransferOutcome
from orchestrator.errors import TransferError
from orchestrator.flow import load_flow
from orchestrator.flow.model import Flow, HoldStep
from orchestrator.flow.source import FlowSource, Where
from orchestrator.livekit.names import is_supervisor_leg

__all__ = ["WarmTransfer"]

REASON_CHARS = 200
_SIP = rtc.ParticipantKind.PARTICIPANT_KIND_SIP
_log = structlog.get_logger("orchestrator.agents")


class WarmTransfer:
    """Warm transfers for one job: the LLM tool, the room events, recovery and cleanup.

    Args:
        ctx: the job; its room is the caller's room.
        session: the AI's session with the caller.
        flow: a flow file, or a `Flow` already loaded (in the worker's prewarm, say).
        url, api_key, api_secret, trunk: default `LIVEKIT_URL`, `LIVEKIT_API_KEY`,
            `LIVEKIT_API_SECRET`, `LIVEKIT_SIP_OUTBOUND_TRUNK`.
        music_dir: where hold `music` files are (default: the flow file's folder, or the
            working directory for a `Flow`).
        summarize: your own summary of the chat for the brief (default: its last turns).
        screen: an answering-machine detector (default: every answer is a person).
        tool_name: the name the LLM sees.
        clock: simulated time, for tests.
        media: the engine's media side (default: `AgentMedia` on `ctx` and `session`).
        reload: pick up a changed flow file at the start of each next transfer (a transfer
            under way keeps its version); an invalid version is not used: the last valid
            one stays and `flow.reload_failed` logs the problems (see docs/flow-versions.md).
        on_outcome: awaited with each transfer's outcome before the tool answers (a
            callback promised is `outcome.callback`: docs/business-hours.md); what it
            raises is logged (`agents.on_outcome_failed`), never the tool's failure.

        brief_llm, brief_stt: for a brief with `mode: conversation`, the briefing session's
            LLM and a streaming STT for the supervisor (docs/conversational-brief.md): one more
            agent session per transfer while it briefs.

    Raises:
        FlowError: the flow file is invalid.
        TransferError: credentials are missing, or a hold `music` file does not exist.
    """

    def __init__(
        self,
        ctx: JobContext,
        session: AgentSession[Any],
        flow: Flow | str | Path,
        *,
        url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        trunk: str | None = None,
        music_dir: Path | None = None,
        summarize: Summarizer | None = None,
        summary_chars: int = SUMMARY_CHARS,
        screen: Screen | None = None,
        tool_name: str = "transfer_to_supervisor",
        clock: Clock | None = None,
        media: AgentMedia | None = None,
        reload: bool = False,
        on_outcome: Callable[[TransferOutcome], Awaitable[None]] | None = None,
        brief_llm: llm.LLM[Any] | None = None,
        brief_stt: stt.STT[Any] | None = None,
    ) -> None:
        self._source: FlowSource | None = None
        self._on_outcome = on_outcome
        if isinstance(flow, Flow):
            if reload:
                raise TransferError(
                    "reload=True needs the flow as a file path, not a loaded Flow",
                    reason="config_error",
                )
            self.flow = flow
        else:
            if reload:
                self._source = FlowSource(flow, check=self._music_problems)
                self.flow = self._source.flow
            else:
                self.flow = load_flow(Path(flow))
            music_dir = music_dir or Path(flow).parent
        self._ctx, self._session = ctx, session
        self._summarize, self._summary_chars = summarize, summary_chars
        # Not ctx.api: that client is built from these same variables (the worker exports its
        # options to them) but keeps the key and secret private, and the engine needs them,
        # for its own client (region failover off, so no dial is ever replayed) and to mint
        # the consult-room token.
        url = url or os.environ.get("LIVEKIT_URL", "")
        api_key = api_key or os.environ.get("LIVEKIT_API_KEY", "")
        api_secret = api_secret or os.environ.get("LIVEKIT_API_SECRET", "")
        self.media = media or AgentMedia(
            ctx,
            session,
            url=url,
            api_key=api_key,
            api_secret=api_secret,
            music_dir=music_dir,
            screen=screen,
            brief_llm=brief_llm,
            brief_stt=brief_stt,
        )
        self._check_music()
        self.engine = TransferEngine(
            url, api_key, api_secret, media=self.media, trunk=trunk, clock=clock
        )
        self._feed = EventFeed(self._running)
        self.media.feed = self._feed
        self._watches: set[asyncio.Future[TransferOutcome]] = set()
        self._call_watch: asyncio.Future[None] | None = None
        self._warming: asyncio.Future[None] | None = None
        self._starting = 0
        self._closed = False
        self.tool: FunctionTool[..., Any] = self._make_tool(tool_name)
        ctx.add_shutdown_callback(self.aclose)

    def _check_music(self) -> None:
        problems = self._music_problems(self.flow)
        if problems:
            raise TransferError(problems[0][1], reason="config_error")

    def _music_problems(self, flow: Flow) -> list[tuple[Where, str]]:
        problems: list[tuple[Where, str]] = []
        for name, step in flow.steps.items():
            if not isinstance(step, HoldStep):
                continue
            path = self.media.music_path(step.music)
            if path is not None and not path.is_file():
                problems.append(
                    (
                        ("steps", name, "music"),
                        f"hold step {name!r}: music file {step.music!r} not found in "
                        f"{path.parent}; pass music_dir= or fix the flow",
                    )
                )
        return problems

    def _current(self) -> Flow:
        """The flow for a transfer starting now (with `reload`, the file's last valid
        version)."""
        if self._source is not None:
            self.flow = self._source.current()
        return self.flow

    def _running(self) -> RoomEvents | None:
        return self.engine.watching(self._ctx.room.name)

    def caller_identity(self) -> str | None:
        """The SIP caller in the job's room (the session's own participant if several)."""
        callers = [
            p.identity
            for p in self._ctx.room.remote_participants.values()
            if p.kind == _SIP and not is_supervisor_leg(p.attributes)
        ]
        with contextlib.suppress(RuntimeError):  # a session not started with a room
            linked = self._session.room_io.linked_participant
            if linked is not None and linked.identity in callers:
                return linked.identity
        return callers[0] if callers else None

    # -- the tool --------------------------------------------------------------------------

    def _make_tool(self, name: str) -> FunctionTool[..., Any]:
        async def transfer_to_supervisor(context: RunContext[Any], reason: str) -> str:
            """Put the caller through to a human supervisor (a warm transfer): the caller
            is held, a supervisor is phoned and told about the call, then they are joined.
            Use it when the caller asks for a person or needs help you cannot give.

            Args:
                reason: Why the caller needs a supervisor, in a few words (it is read to
                    the supervisor).
            """
            # The caller talking over "let me transfer you" must not cancel it midway.
            with contextlib.suppress(RuntimeError):
                context.disallow_interruptions()
            return await self.request(reason)

        return function_tool(transfer_to_supervisor, name=name)

    async def request(self, reason: str = "") -> str:
        """Transfer the caller and wait for the outcome; returns what the LLM should know.

        This is the tool's body, for your own tools and tasks. It never raises for a
        transfer that cannot start or fails: the text says what happened.
        """
        caller = self.caller_identity()
        if caller is None:
            return NO_CALLER
        if self._closed:  # the job is ending
            return for_error(TransferError("the job is shutting down", reason="cancelled"))
        room = self._ctx.room.name
        summary = await self._summary()
        self._feed.attach(self._ctx.room, room)
        self._starting += 1
        try:
            transfer = await self.engine.start(
                self._current(),
                room=room,
                caller_identity=caller,
                summary=summary,
                reason=bounded(reason, REASON_CHARS),
            )
        except TransferError as error:
            _log.warning("agents.transfer_not_started", reason=error.reason)
            return for_error(error)
        except Exception as error:  # the server unreachable, say: a result, not a traceback
            _log.error("agents.transfer_not_started", error=type(error).__name__)
            return for_error(TransferError(str(error), reason="unavailable", retryable=True))
        finally:
            self._starting -= 1
            self._idle()
        watch = asyncio.ensure_future(self._watch(transfer))
        self._watches.add(watch)
        watch.add_done_callback(self._watches.discard)
        # Shielded: if the tool is cancelled, the transfer still runs to its outcome.
        return for_outcome(await asyncio.shield(watch))

    async def _summary(self) -> str:
        chat = self._session.history
        if self._summarize is not None:
            try:
                return bounded(await self._summarize(chat), self._summary_chars)
            except Exception as error:
                _log.warning("agents.summarize_failed", error=type(error).__name__)
        return summarize_chat(chat, limit=self._summary_chars)

    async def _watch(self, transfer: Transfer) -> TransferOutcome:
        try:
            outcome = await transfer.outcome
        finally:
            if self._ctx.room.name not in self.engine.calls:  # else its events keep coming
                self._feed.detach_all()
            await self.media.release()  # and the consult rooms' events stop
            self._follow_call()
        if self._on_outcome is not None:
            try:
                await self._on_outcome(outcome)
            except Exception as error:  # the application's bug: the transfer still answers
                _log.warning("agents.on_outcome_failed", error=type(error).__name__)
        return outcome

    def _follow_call(self) -> None:
        """After a merge the job stays, unheard, while the engine watches the call (the room's
        events keep coming); when the caller or the supervisor hangs up, the engine releases
        the other and the job ends."""
        call = self.engine.calls.get(self._ctx.room.name)
        if call is None or self._call_watch is not None:
            return
        self._feed.attach(self._ctx.room, self._ctx.room.name)

        async def follow() -> None:
            await call.ended
            self._feed.detach_all()
            self._ctx.shutdown(reason="merged call ended")

        self._call_watch = asyncio.ensure_future(follow())

    def _idle(self) -> None:
        """No transfer of ours runs or starts: nothing listens to the room."""
        if not (self._starting or self._watches or self._running()):
            self._feed.detach_all()

    # -- recovery and shutdown -------------------------------------------------------------

    async def recover(self) -> TransferOutcome | None:
        """Finish or unwind a transfer that a dead worker left in this room.

        Call it once per job, after `ctx.connect()` and before `session.start()`. It returns
        None when the room holds no transfer checkpoint (the usual case); `merged` when the
        caller was already with the supervisor (the AI then leaves: end the entrypoint; the
        job follows their call to its end); `caller_hung_up` when the caller had hung up and
        their supervisor legs were released (end the entrypoint: the room is gone);
        `returned` (reason `worker_lost`, or `flow_changed` when the transfer had started
        under another version of the flow) when the transfer was unwound and the caller is
        back with the AI.

        It also starts asking LiveKit what it allows (the engine's probe, about 3 s on a
        self-hosted server) while the AI greets the caller, so that the first transfer of the
        job does not make the caller wait for it.

        Raises:
            TransferError: LiveKit could not be asked (retryable says whether to try again).
        """
        caller = self.caller_identity()
        room = self._ctx.room.name
        self._current()  # recovery compares the checkpoint's version with this one
        if caller is None:  # a caller who hung up while no job watched left their legs alone
            legs = self._ctx.room.remote_participants.values()
            if any(is_supervisor_leg(p.attributes) for p in legs):
                return await self.engine.recover(self.flow, room=room)
            return None
        if self._warming is None:
            self._warming = asyncio.ensure_future(self._ask_capabilities())
        outcome = await self.engine.recover(self.flow, room=room, caller_identity=caller)
        self._follow_call()  # a merged call goes on: watched again by this job
        return outcome

    async def _ask_capabilities(self) -> None:
        try:
            await self.engine.capabilities()
        except Exception as error:  # the first transfer asks again
            _log.warning("agents.capabilities_failed", error=type(error).__name__)

    async def aclose(self) -> None:
        """End any running transfer (cleanly: caller off hold, legs hung up), then close."""
        if self._closed:
            return
        self._closed = True
        if self._warming is not None:
            self._warming.cancel()
        if self._call_watch is not None:
            self._call_watch.cancel()
        await self.engine.aclose()  # a merged call goes on, no longer watched
        for watch in list(self._watches):
            with contextlib.suppress(Exception):
                await watch
        self._feed.detach_all()
        await self.media.aclose()
