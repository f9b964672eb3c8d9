"""One running transfer: its per-transfer state and the feed of what happens to it.

Everything that can happen (a step's outcome, the caller hanging up, the supervisor leaving,
a DTMF digit, `max_hold` expiring) becomes an event of its machine (`engine.runtime`, which
applies them one at a time and runs each visit's action); what a visit does, and what the
transfer keeps of it, is here. Whatever way the transfer ends, `cleanup.finish` undoes what
it started, then resolves exactly one outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from orchestrator.clock import Clock, within
from orchestrator.engine import hold
from orchestrator.engine.actions import run_step
from orchestrator.engine.checkpoint import CheckpointState
from orchestrator.engine.cleanup import finish
from orchestrator.engine.in_room import Withholding, cut_off, withhold
from orchestrator.engine.inflight import InFlight
from orchestrator.engine.legs import Dialing, DialState, absent, dialing, dials, end_leg
from orchestrator.engine.merge import MergeState, left_moving
from orchestrator.engine.outcome import Attempt, Callback, TransferOutcome
from orchestrator.engine.ports import Media
from orchestrator.engine.presence import departed, returned
from orchestrator.engine.runtime import Listener, Runtime
from orchestrator.flow.compiler import CompiledFlow
from orchestrator.flow.model import BriefStep
from orchestrator.flow.steps import STEP_TYPES
from orchestrator.flow.values import E164
from orchestrator.livekit import Gateway
from orchestrator.livekit.names import consult_room
from orchestrator.logs import mask

__all__ = ["Transfer"]

T = TypeVar("T")


class Transfer:
    """A transfer in progress. Await `outcome` for its typed result."""

    def __init__(
        self,
        *,
        compiled: CompiledFlow,
        gateway: Gateway,
        media: Media,
        clock: Clock,
        trunk: str,
        room: str,
        caller_identity: str,
        caller_number: str,
        summary: str,
        reason: str,
        log: Any,
        transfer_id: str,
        on_done: Callable[[Transfer], None],
        strategy: Literal["move", "in_room"] = "move",
        flow_version: str = "",
    ) -> None:
        self.flow, self.gateway, self.media, self.clock = compiled.flow, gateway, media, clock
        self.trunk, self.room, self.caller_identity = trunk, room, caller_identity
        self.caller_number = caller_number
        self.caller_number_valid = bool(E164.fullmatch(caller_number))
        self.summary, self.reason = summary, reason
        self.transfer_id = transfer_id
        self.flow_version = flow_version  # written in the checkpoint, logged, in the outcome
        self.consult_room = consult_room(transfer_id)
        self.strategy = strategy
        """How the supervisor joins the caller: `move` from the consult room, or `in_room`
        (dialled into the caller's room; see `orchestrator.engine.in_room`)."""
        self.isolating: set[asyncio.Task[None]] = set()
        self.withholding: dict[str, Withholding] = {}
        self.log = log
        self.machine = Runtime(compiled, self, log)
        """The machine's runtime: its state, events, visits and the step task."""
        self._on_done = on_done
        self._decision: asyncio.Future[str] | None = None
        self._early_decision: str | None = None
        self._started = clock.now()
        self.hold = hold.HoldState()  # written by `engine.hold` only
        self.dialling = DialState()  # written by `engine.actions` only
        self.merge = MergeState()  # written by `engine.actions` only
        self.supervisor: str | None = None
        self.unsettled: set[str] = set()
        """Supervisor legs whose hang-up failed: ended before any next dial, or by cleanup."""
        self.kept: str | None = None
        """The supervisor left on the line with the caller when the transfer ended merged."""
        self.leg_to_end: str | None = None
        """A supervisor leg a failed brief or merge left: ended before the next step acts."""
        self.gone: set[str] = set()
        self.departures: dict[tuple[str, str], asyncio.Future[None]] = {}
        """Departures seen in room events and not confirmed yet (see `engine.presence`)."""
        self.late_departures: list[tuple[str, str, bool]] = []
        """Departures seen during cleanup (room, identity, hung up): a merged call's watch
        takes them over."""
        self.saved = CheckpointState()  # written by `engine.checkpoint` only
        self.inflight = InFlight(clock)
        """Requests that may still take effect (dials, a CreateRoom, checkpoint writes):
        cleanup settles them."""
        self.ending = False  # cleanup has begun: room events no longer change anything
        self.superseded = False
        self.failure_reason: str | None = None
        self.callback: Callback | None = None
        """The call back a callback step promised (`engine.hours`), for the outcome."""
        self.left_step = "requested"
        self._outcome: asyncio.Future[TransferOutcome] = asyncio.get_running_loop().create_future()
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._task.add_done_callback(self._cancelled_before_start)

    def _cancelled_before_start(self, task: asyncio.Task[None]) -> None:
        """A task cancelled before it ran never entered `_run`: clean up and answer anyway."""
        if not self._outcome.done():
            self._late = asyncio.ensure_future(self._late_finish())

    async def _late_finish(self) -> None:
        if not self._outcome.done():
            await finish(self, "cancelled")

    def resolve(self, outcome: TransferOutcome) -> None:
        if not self._outcome.done():
            self._outcome.set_result(outcome)

    def forget(self) -> None:
        """Off the engine's books (a merged call is watched from now on)."""
        self._on_done(self)

    @property
    def held(self) -> bool:
        """The caller is on hold now."""
        return self.hold.since is not None

    def background(self) -> list[asyncio.Future[None]]:
        """Everything running on the transfer's behalf that its end stops: the step's
        action, the `max_hold` timer, checkpoint progress, cuts, withholdings and departures
        pending."""
        first = (self.machine.step_task, self.hold.timer, self.saved.progressing)
        return [
            *(task for task in first if task is not None),
            *self.isolating,
            *(task for w in self.withholding.values() for task in w.tasks if not task.done()),
            *self.departures.values(),
        ]

    def new_leg(self, identity: str) -> None:
        """A new supervisor attempt: nothing heard from an earlier leg carries over."""
        self.supervisor = identity
        self._early_decision = None

    # -- public ------------------------------------------------------------------------

    @property
    def outcome(self) -> asyncio.Future[TransferOutcome]:
        """The one outcome, for any number of waiters: cancelling one waiter (or a timeout
        around it) cancels only that wait, never the transfer's outcome."""
        return asyncio.shield(self._outcome)

    @property
    def state(self) -> str:
        return self.machine.state

    @property
    def transition_latencies(self) -> list[float]:
        """Seconds between an event's arrival and its transition (for the benchmark)."""
        return self.machine.transition_latencies

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(from_state, to_state, trigger)` after every transition."""
        self.machine.add_listener(listener)

    @property
    def attempts(self) -> list[Attempt]:
        """The attempts so far (`DialState.attempts`; `simulate.Watch` and tests read it)."""
        return self.dialling.attempts

    @property
    def dialing(self) -> Dialing | None:
        """The leg of the first dial request in flight (`legs.dials`; tests read it)."""
        return next((dialing(r) for r in dials(self.inflight)), None)

    @property
    def merged_at(self) -> float | None:
        """Seconds from the start to the merge (`MergeState.merged_at`; tests read it)."""
        return self.merge.merged_at

    @property
    def leg_room(self) -> str:
        """The room the supervisor's leg is in now."""
        if self.strategy == "in_room" or self.merge.merged_at is not None:
            return self.room
        return self.consult_room

    def cancel(self) -> None:
        """Stop the transfer now; it cleans up and ends with outcome `failed` / `cancelled`."""
        self.machine.cancel()

    def supersede(self) -> None:
        """Another engine's transfer has claimed the caller (`engine.checkpoint`): stop now, as
        `failed` / `in_progress`, leaving that transfer's checkpoint alone."""
        self.superseded = True
        self.cancel()

    def participant_left(self, room: str, identity: str, *, hung_up: bool = False) -> None:
        """Feed a room event: someone left the caller room or the consult room (believed once
        confirmed: it may be a reconnect, see `orchestrator.engine.presence`), or their phone
        call ended (`hung_up`: the participant's `sip.callStatus` is `hangup`; believed at
        once)."""
        if room == self.room and identity == self.caller_identity:
            departed(self, room, identity, "caller_hangup", hung_up=hung_up)
        elif identity == self.supervisor and self.merge.moving:  # a move shows as leaving:
            left_moving(self.merge, hung_up)
        elif identity == self.supervisor and room == self.leg_room:
            departed(self, room, identity, "supervisor_left", hung_up=hung_up)

    def participant_joined(self, room: str, identity: str) -> None:
        """Feed a room event: someone joined (`in_room`: see `track_published`; a leg of ours
        joining while it rings may subscribe to nothing until its answer, `engine.in_room`;
        a leg's reconnect is repaired by `engine.presence`)."""
        if not returned(self, room, identity):
            self.cut_off(room, identity, None)
        if self._isolates(room, identity):
            withhold(self, identity)

    def track_published(self, room: str, identity: str, track: str) -> None:
        """Feed a room event: someone published the track with sid `track`. With `in_room`,
        the caller is cut off from a supervisor leg's track as soon as it exists (LiveKit's
        SIP bridge publishes it while the phone rings; the caller's bridge subscribes to it),
        and the leg from a caller's new track (after a reconnect: see `engine.presence`)."""
        if identity == self.caller_identity and self.supervisor is not None:
            self.cut_off(room, self.supervisor, None, heard=track)
        else:
            self.cut_off(room, identity, track)

    def cut_off(
        self,
        room: str,
        identity: str,
        track: str | None,
        *,
        both: bool = False,
        heard: str | None = None,
    ) -> None:
        """`in_room`: the people in the room stop hearing the leg `identity` (`both`: and
        it them; `heard`: only it the track `heard`), in the background."""
        if not self._isolates(room, identity):
            return
        task = asyncio.ensure_future(cut_off(self, identity, track, both=both, heard=heard))
        self.isolating.add(task)
        task.add_done_callback(self.isolating.discard)

    def _isolates(self, room: str, identity: str) -> bool:
        """`in_room`: `identity` is a leg of ours in the caller's room, to keep apart."""
        leg = identity == self.supervisor or self._ringing(identity)
        ours = self.strategy == "in_room" and room == self.room and leg
        # A late event must not undo the opening, nor start work cleanup would not stop.
        return ours and not self.merge.opening and not self.ending

    def _ringing(self, identity: str) -> bool:
        """`identity` is a leg of a ring group still dialled (none is the supervisor yet)."""
        return any(
            a.identity == identity and a.group is not None and a.result == "dialing"
            for a in self.dialling.attempts
        )

    def dtmf(self, room: str, identity: str, digit: str) -> None:
        """Feed a DTMF digit received from a participant."""
        step = self._briefing()
        if step is None or identity != self.supervisor or room != self.leg_room:
            return
        if digit == step.accept_digit:
            self._decided("accepted")
        elif digit == step.decline_digit:
            self._decided("declined")

    def decide(self, accepted: bool) -> None:
        """The supervisor accepted or declined by voice (the worker's LLM tools call this)."""
        step = self._briefing()
        if step is not None and "voice" in step.accept_by:
            self._decided("accepted" if accepted else "declined")

    def _briefing(self) -> BriefStep | None:
        """The brief step running now, or the one an answered dial is about to start."""
        step = self.flow.steps.get(self.state)
        if isinstance(step, BriefStep):
            return step
        if step is not None and step.type == "dial" and self.supervisor is not None:
            follow = self.flow.steps.get(getattr(step, "next", ""))
            return follow if isinstance(follow, BriefStep) else None
        return None

    def _decided(self, result: str) -> None:
        """The first decision of a brief wins; one arriving before the brief starts waits."""
        if self._decision is None:
            self._early_decision = self._early_decision or result
        elif not self._decision.done():
            self._decision.set_result(result)

    # -- helpers for actions -------------------------------------------------------------

    def elapsed(self) -> float:
        return round(self.clock.now() - self._started, 3)

    def render(self, template: str) -> str:
        return template.format(
            caller_number=self.caller_number if self.caller_number_valid else "a withheld number",
            summary=self.summary,
            reason=self.reason,
            target=self.dialling.target_name.replace("_", " "),
        )

    def start_hold(self) -> None:
        hold.start(self)

    def release_hold(self) -> None:
        hold.release(self)

    async def caller_gone(self) -> bool:
        """Check a `not_found` about the caller: if they left unseen, end the transfer."""
        if await absent(self, self.room, self.caller_identity):
            self.post("caller_hangup")
            return True
        return False

    async def within(self, seconds: float, work: Awaitable[T]) -> T:
        """`work`, or TimeoutError after `seconds` of the transfer's clock."""
        return await within(self.clock, seconds, work)

    def expect_decision(self) -> asyncio.Future[str]:
        self._decision = asyncio.get_running_loop().create_future()
        if self._early_decision is not None:
            self._decision.set_result(self._early_decision)
        return self._decision

    # -- the run -------------------------------------------------------------------------

    async def _run(self) -> None:
        self.log.info(
            "transfer.started",
            room=mask(self.room),
            caller=mask(self.caller_number),
            summary_chars=len(self.summary),
            flow_version=self.flow_version,
        )
        try:
            trigger = await self.machine.run()
        except asyncio.CancelledError:
            trigger = "cancelled"
        except Exception as error:  # a bug must still end in cleanup and one outcome
            self.log.error("transfer.internal_error", error=type(error).__name__)
            trigger = "cancelled"
        # Cleanup always completes, even if this task is cancelled again meanwhile: a caller
        # must never be left on hold because a worker was shutting down.
        self.ending = True
        finishing = asyncio.ensure_future(finish(self, trigger))
        cancelled = False
        while not finishing.done():
            try:
                await asyncio.shield(finishing)
            except asyncio.CancelledError:
                cancelled = True
        finishing.result()
        if cancelled:
            raise asyncio.CancelledError

    def post(self, event: str, visit: int | None = None) -> None:
        """Queue an event; `visit` ties a step's outcome to the visit that produced it."""
        self.machine.post(event, visit)

    # What the runtime asks of a transfer (`runtime.Stepping`).

    def left(self, source: str, event: str) -> None:
        self.left_step = source
        left = self.flow.steps.get(source)
        kind = STEP_TYPES[left.type] if left is not None else None
        # Every failure of a step with the supervisor on the line ends their leg.
        if kind is not None and kind.holds_leg and self.supervisor and event != kind.success:
            self.leg_to_end, self.supervisor = self.supervisor, None

    def entering(self, name: str) -> None:
        self._decision = None
        step = self.flow.steps.get(name)
        if step is None or step.type != "brief":
            self._early_decision = None  # only a dial's answer can carry one into a brief

    async def act(self, name: str) -> str:
        step = self.flow.steps[name]
        try:
            if self.leg_to_end is not None:  # a failed brief or merge: that leg ends first
                leg, self.leg_to_end = self.leg_to_end, None
                await end_leg(self, leg)
            return await run_step(self, name, step)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # an API or media failure is the step's `failed` outcome
            self.log.warning("transfer.step_failed", step=name, error=type(error).__name__)
            code = getattr(error, "code", "")
            if getattr(error, "denied", False):  # the key, not a phone (LiveKitError.denied)
                self.failure_reason = "permission"
            elif code in ("invalid_argument", "not_found", "failed_precondition"):
                self.failure_reason = "config_error"
            return "failed"
