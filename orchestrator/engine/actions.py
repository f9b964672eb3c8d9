"""What each step does against LiveKit. Each action returns the outcome event of its step.

Actions run as one task per step visit; leaving the step cancels the task, and whatever it
started is undone by the transfer's cleanup (the consult room is deleted, which hangs up any
supervisor leg in it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

from orchestrator.clock import Clock
from orchestrator.engine import hours
from orchestrator.engine.checkpoint import (
    checkpoint,
    claimed_by,
    progress_soon,
)
from orchestrator.engine.in_room import isolate
from orchestrator.engine.inflight import DIAL, Request
from orchestrator.engine.legs import (
    Dialing,
    DialState,
    cancel_dial,
    dialing,
    dials,
    end_leg,
    refused,
    settle,
)
from orchestrator.engine.merge import (
    Merging,
    consult_room_ready,
    create_consult_room,
    merge,
)
from orchestrator.engine.outcome import Attempt, Callback
from orchestrator.engine.ports import (
    MEDIA_TIMEOUT_S,
    SCREEN_TIMEOUT_S,
    Briefing,
    speech_timeout,
)
from orchestrator.engine.reconcile import BUDGET_S, hang_up_one
from orchestrator.errors import LiveKitError, TransferError
from orchestrator.flow.model import (
    AnnounceStep,
    BriefStep,
    CallerId,
    ColdTransferStep,
    DialStep,
    HoldStep,
    Ringing,
    Step,
    Target,
)
from orchestrator.flow.steps import STEP_TYPES
from orchestrator.livekit import DIAL_MARGIN_S, Dial, classify_dial_error
from orchestrator.livekit.names import CALL_STATUS, supervisor_identity

__all__ = ["ACTIONS", "Running", "run_step"]

T = TypeVar("T")


class Running(Merging, Protocol):
    """What the steps' actions read and write of their transfer."""

    clock: Clock
    trunk: str
    caller_number: str
    caller_number_valid: bool
    dialling: DialState
    gone: set[str]
    failure_reason: str | None
    callback: Callback | None
    summary: str
    reason: str

    def render(self, template: str) -> str: ...

    def new_leg(self, identity: str) -> None: ...

    def start_hold(self) -> None: ...

    def supersede(self) -> None: ...

    def expect_decision(self) -> asyncio.Future[str]: ...


async def hold(t: Running, step: HoldStep) -> str:
    create_consult_room(t)  # meanwhile: it does not depend on anything the hold does
    if step.say:
        await say(t, t.render(step.say))
    # Still ours (`engine.checkpoint`)? Read after the announcement: a rival claim made
    # since ours has landed by then.
    owner = asyncio.ensure_future(claimed_by(t))
    try:
        t.start_hold()  # before the request: a hold audio that started late is still stopped
        await t.within(MEDIA_TIMEOUT_S, t.media.start_hold(t.room, step.music))
        claimed = await owner
    finally:
        owner.cancel()
    if claimed not in (None, "", t.transfer_id):  # '' : no claim landed; `held` makes it
        t.supersede()
        return "superseded"  # never applied: the cancel is ahead of it in the queue
    await checkpoint(t, "held")  # without it, a worker lost from here on would leak the legs
    return "held"


async def say(t: Running, text: str) -> None:
    await t.within(speech_timeout(text), t.media.say_to_caller(t.room, text))


async def announce(t: Running, step: AnnounceStep) -> str:
    await say(t, t.render(step.say))
    return "done"


def _dial(
    t: Running,
    step: DialStep,
    target: Target,
    record: Attempt,
    caller_id: str,
    policy: CallerId,
    ring: float,
) -> Dial:
    headers = dict(target.headers or {})
    if policy.diversion and policy.business_number and caller_id == t.caller_number:
        headers.setdefault("Diversion", f"<tel:{policy.business_number}>;reason=unconditional")
    return Dial(
        trunk=step.trunk or t.flow.trunk or t.trunk,
        target=target,
        caller_id=caller_id,
        room=t.leg_room,
        identity=record.identity,
        transfer_id=t.transfer_id,
        ring=ring,
        headers=headers,
        target_name=record.target,
        attempt=t.dialling.count,
        caller_id_kind=record.caller_id,
        group=record.group,
    )


def _ended(t: Running, record: Attempt, attempt: int, result: str | None = None) -> None:
    """Log how an attempt ended (again if that changes: an answer that was a voicemail)."""
    ended = t.elapsed() if record.ended_s is None else record.ended_s
    t.log.info(
        "dial.result",
        target=record.target,
        attempt=attempt,
        result=result or record.result,
        sip_status_code=record.sip_status,
        seconds=round(ended - record.started_s, 3),
        caller_id_kind=record.caller_id,
    )


async def _attempt(
    t: Running,
    step: DialStep,
    name: str,
    target: Target,
    preserve: bool,
    policy: CallerId,
    ring: float,
    group: str | None = None,
) -> tuple[str, int | None, Attempt]:
    """One dial of one target, with at most one caller-ID fallback redial. Alone, its leg
    is the transfer's supervisor from the INVITE on; in a ring `group`, only the one
    `_ring_group` picks becomes it."""
    caller_id = t.caller_number if preserve else (policy.business_number or "")
    while True:
        if group is None:  # a group settles once, before its first INVITE
            await settle(t)
        t.dialling.count += 1
        identity = supervisor_identity(t.transfer_id, t.dialling.count)
        record = Attempt(name, identity, "caller" if preserve else "business", t.elapsed())
        record.group = group
        t.dialling.attempts.append(record)
        dial = _dial(t, step, target, record, caller_id, policy, ring)
        if group is None:
            t.new_leg(identity)
            t.merge.opening = False
        try:
            await _place(t, dial)
        except asyncio.CancelledError:  # the step was left (the caller hung up, ...)
            # The record stays `dialing` (or says that another of its group answered).
            _ended(t, record, dial.attempt, "cancelled" if record.result == "dialing" else None)
            raise
        except (LiveKitError, TimeoutError) as error:
            result, status = classify_dial_error(
                error, preserving=preserve, rejected_by=policy.rejected_by
            )
            record.ended_s, record.result, record.sip_status = t.elapsed(), result, status
            if group is None:
                t.supervisor = None
            if isinstance(error, LiveKitError) and error.denied:
                t.failure_reason = "permission"  # the key lost its grant since the probe
            if result in ("unavailable", "failed", "no_answer") and not refused(error):
                with contextlib.suppress(LiveKitError):  # unknown: hung up just below
                    if await _reconcile(t, identity) == "answered":
                        if group is None:
                            t.supervisor = identity
                        record.result = "answered"
                        _ended(t, record, dial.attempt)
                        return "answered", None, record
            _ended(t, record, dial.attempt)
            # Whatever the answer said, no leg of a failed attempt may stay: hang it up.
            await end_leg(t, identity)
            if result == "caller_id_rejected" and policy.on_rejection == "business_number":
                t.log.info("dial.caller_id_fallback", sip_status_code=status)
                preserve, caller_id = False, policy.business_number or ""
                continue
            return result, status, record
        record.ended_s, record.result = t.elapsed(), "answered"
        _ended(t, record, dial.attempt)
        return "answered", None, record


async def _place(t: Running, dial: Dial) -> None:
    """The dial request, left running if this step is cancelled: a request the server has
    may still create its leg, so it stays in the transfer's `InFlight` (`DIAL`), and
    cleanup waits for it and hangs that leg up. Answered, the attempt acts on the answer."""
    call = asyncio.ensure_future(t.gateway.dial(t.log, dial))
    deadline = t.clock.now() + dial.ring + DIAL_MARGIN_S
    leg = Dialing(dial.identity, dial.room)
    request = t.inflight.add(DIAL, call, deadline, leg, kept=True)
    try:
        await asyncio.shield(call)
    except (LiveKitError, TimeoutError):  # the attempt's to act on (any other: cleanup's)
        t.inflight.taken(request)
        raise
    t.inflight.taken(request)


async def _reconcile(t: Running, identity: str) -> str:
    """A lost answer: the leg may exist anyway. `answered` if it is live (then it is used)."""
    info = await t.gateway.get_participant(t.log, t.leg_room, identity)
    if info is not None and info.attributes.get(CALL_STATUS) == "active":
        return "answered"
    return "gone"


async def dial(t: Running, step: DialStep, name: str) -> str:
    policy = step.caller_id or t.flow.caller_id
    preserve = policy.mode == "preserve" and t.caller_number_valid
    if policy.mode == "preserve" and not t.caller_number_valid:
        t.log.info("dial.caller_id_withheld", reason="caller number missing or not E.164")
    chain = step.chain()
    tried = t.dialling.chain_position.setdefault(name, 0)
    if tried >= len(chain):
        return "exhausted"
    await consult_room_ready(t)
    result, status = "exhausted", None
    for index in range(tried, len(chain)):
        t.dialling.chain_position[name] = index + 1
        place = chain[index]
        if place.together:
            group = f"{name}/{index + 1}"
            result, status = await _ring_group(t, step, place, group, preserve, policy)
            if result == "answered":
                progress_soon(t, "briefing")
                return "answered"
            if result == "failed":
                break
            continue
        target_name = place.targets[0]
        t.dialling.target_name = target_name
        target = t.flow.targets[target_name]
        ring = step.ring_time(place, target)
        result, status, _ = await _attempt(t, step, target_name, target, preserve, policy, ring)
        if result == "answered":
            assert t.supervisor is not None
            if t.strategy == "in_room":  # the bridge has just subscribed them to everyone
                await isolate(t, t.supervisor)
            if await _screen(t, t.supervisor) == "machine":
                t.dialling.attempts[-1].result = "voicemail"
                _ended(t, t.dialling.attempts[-1], t.dialling.count)
                await end_leg(t, t.supervisor)
                t.supervisor = None
                result = "voicemail"
                continue
            progress_soon(t, "briefing")  # the brief need not wait for it
            return "answered"
        if result == "failed":
            if status in (404, 484, 604):
                t.failure_reason = "config_error"  # that number does not exist: fix the flow
            break
    t.dialling.last_sip_status = status
    return result


_GROUP_FAILURES = ("failed", "caller_id_rejected")
"""A group's outcome when one of its attempts ends so; otherwise the last one's result."""


async def _ring_group(
    t: Running,
    step: DialStep,
    place: Ringing,
    group: str,
    preserve: bool,
    policy: CallerId,
) -> tuple[str, int | None]:
    """Ring `place`'s targets at once. The first to answer (and pass answer screening)
    becomes the supervisor; every other leg is cancelled at once (CANCEL while it rings, BYE
    if it answered too). Each target is an `_attempt`: caller ID and its fallback per target."""
    await settle(t)
    targets = {n: t.flow.targets[n] for n in place.targets}
    t.log.info(
        "dial.group",
        group=group,
        targets=list(place.targets),
        ring_seconds=max(step.ring_time(place, target) for target in targets.values()),
    )
    cut: set[str] = set()  # `in_room`: the legs cut from the caller at their answer
    attempts = [
        asyncio.ensure_future(
            _cut_at_answer(
                t, _attempt(t, step, n, x, preserve, policy, step.ring_time(place, x), group), cut
            )
        )
        for n, x in targets.items()
    ]
    pending: set[asyncio.Future[tuple[str, int | None, Attempt]]] = set(attempts)
    ended: list[tuple[str, int | None]] = []
    winner: Attempt | None = None
    try:
        while pending and winner is None:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for finished in [a for a in attempts if a in done]:  # in the order listed
                result, status, record = finished.result()
                if result != "answered":
                    ended.append((result, status))
                elif winner is not None:  # answered in the same instant: it loses
                    await _another_answered(t, record, cut)
                elif await _screened(t, record, cut) == "human":
                    winner = record
                else:
                    ended.append(("voicemail", None))
    finally:
        for attempt in pending:  # the rest are cancelled at once: their legs end below
            attempt.cancel()
        now = t.elapsed()
        for record in t.dialling.attempts:
            if record.group == group and record.result == "dialing" and winner is not None:
                record.result, record.ended_s = "another_answered", now
        if pending:
            await asyncio.wait(pending)
        for attempt in pending:
            if not attempt.cancelled() and attempt.exception() is None:
                result, status, record = attempt.result()
                if result == "answered":  # between its answer and its cancel
                    await _another_answered(t, record, cut)
        if winner is not None:
            others = _of(t, group)
            for request in [r for r in dials(t.inflight) if dialing(r).identity in others]:
                _stopping(t, _stop_dial(t, request))
    if winner is not None:  # already the supervisor since its screening (`_screened`)
        t.dialling.target_name = winner.target
        t.merge.opening = False
        return "answered", None
    for result, status in ended:
        if result in _GROUP_FAILURES:
            if status in (404, 484, 604):
                t.failure_reason = "config_error"
            return result, status
    return ended[-1] if ended else ("failed", None)


def _number(t: Running, record: Attempt) -> int:
    """The attempt's number (each attempt counted once, in the order they were made)."""
    return t.dialling.attempts.index(record) + 1


def _of(t: Running, group: str) -> set[str]:
    return {a.identity for a in t.dialling.attempts if a.group == group}


async def _cut_at_answer(
    t: Running, attempt: Awaitable[tuple[str, int | None, Attempt]], cut: set[str]
) -> tuple[str, int | None, Attempt]:
    """A group's attempt. With `in_room`, a leg that answers is isolated at once (LiveKit's
    bridge has just subscribed it to the caller, and the caller to it), before anything
    else is done with it: a screening of an earlier answer may last seconds, and a leg that
    lost may take retries to hang up. Given up meanwhile, it still answers (and is then
    hung up) only once cut."""
    answer = await attempt
    if answer[0] == "answered" and t.strategy == "in_room":
        cutting = asyncio.ensure_future(_cut(t, answer[2].identity))
        try:
            await asyncio.shield(cutting)
        except asyncio.CancelledError:  # `_ring_group` hangs an answered leg up
            await cutting
        if cutting.result():
            cut.add(answer[2].identity)
    return answer


async def _cut(t: Running, identity: str) -> bool:
    """`in_room`: `identity` and the caller's room stop hearing each other (False if that
    failed: kept, the leg is isolated again, `_screened`; lost, it is hung up anyway)."""
    try:
        await isolate(t, identity)
    except Exception as error:
        t.log.warning("transfer.isolate_failed", error=type(error).__name__)
        return False
    return True


async def _screened(t: Running, record: Attempt, cut: set[str]) -> str:
    """A group's first answer: screened as the supervisor's pending leg (a key pressed
    meanwhile counts, as for a single target), the supervisor if it is a human."""
    if t.strategy == "in_room" and record.identity not in cut:
        await isolate(t, record.identity)  # the cut at its answer failed: once more
    t.new_leg(record.identity)
    if await _screen(t, record.identity) == "machine":
        t.supervisor = None
        record.result = "voicemail"
        _ended(t, record, _number(t, record))
        await end_leg(t, record.identity)
        return "machine"
    return "human"


async def _another_answered(t: Running, record: Attempt, cut: set[str]) -> None:
    """A group's leg answered after (or with) the one kept: hung up (BYE) at once."""
    record.result = "another_answered"
    _ended(t, record, _number(t, record))
    _stopping(t, _end_other(t, record.identity, isolated=record.identity in cut))


def _stopping(t: Running, work: Coroutine[Any, Any, None]) -> None:
    """A group's other leg ends beside the transfer (the kept one is briefed meanwhile);
    cleanup cancels what is left of it and ends the leg itself."""
    stopping = asyncio.ensure_future(work)
    t.dialling.stopping.add(stopping)
    stopping.add_done_callback(t.dialling.stopping.discard)


async def _end_other(t: Running, identity: str, *, isolated: bool = False) -> None:
    """Hung up, retried like cleanup retries a leg: it must not stay answered beside the
    one kept. If LiveKit never agrees, it is ended before any next dial, or by cleanup.
    With `in_room` it is in the caller's room until then: isolated first (if it was not
    at its answer), so that a hang-up that takes retries is not a conversation."""
    if t.strategy == "in_room" and not isolated:
        await _cut(t, identity)
    try:
        await hang_up_one(t, t.clock, t.leg_room, identity, t.clock.now() + BUDGET_S)
    except TransferError:
        t.log.warning("transfer.hang_up_failed", error="TransferError")
        t.unsettled.add(identity)


async def _stop_dial(t: Running, request: Request) -> None:
    """A group's other leg still ringing: CANCEL as soon as it shows (BYE if it answers
    meanwhile). Cut short (the transfer ends), the request stays for cleanup to end."""
    if await cancel_dial(t, request, request.deadline + DIAL_MARGIN_S):
        await _end_other(t, dialing(request).identity)
    t.inflight.taken(request)


async def _screen(t: Running, supervisor: str) -> str:
    try:
        return await t.within(SCREEN_TIMEOUT_S, t.media.screen_answer(t.leg_room, supervisor))
    except TimeoutError:
        t.log.warning("transfer.media_failed", call="screen_answer", error="TimeoutError")
        return "human"  # as the worker's own screening does when it cannot tell


async def brief(t: Running, step: BriefStep) -> str:
    assert t.supervisor is not None
    if t.supervisor in t.gone:  # hung up between answering and the brief
        return "supervisor_left"
    decision = t.expect_decision()
    if step.mode == "conversation":
        return await _converse(t, step, decision)
    # A supervisor who presses 1 (or 2) while the brief is read need not hear the rest.
    text = t.render(step.say)
    speaking: asyncio.Future[Any] = asyncio.ensure_future(
        t.within(speech_timeout(text), t.media.brief(t.leg_room, t.supervisor, text))
    )
    first: set[asyncio.Future[Any]] = {decision, speaking}
    try:
        await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not speaking.done():
            speaking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await speaking
    if decision.done():
        return decision.result()
    speaking.result()  # a brief that failed fails the step
    sleeper: asyncio.Future[Any] = asyncio.ensure_future(t.clock.sleep(step.timeout))
    waiting: set[asyncio.Future[Any]] = {decision, sleeper}
    try:
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sleeper
    if decision in done:
        return decision.result()
    return "timeout"


async def _converse(t: Running, step: BriefStep, decision: asyncio.Future[str]) -> str:
    """The conversational brief: the media's agent session talks with the supervisor until a
    decision (its tools, or the keypad at once) or `timeout`; leaving the step (the
    supervisor left, the caller hung up) cancels it. Either way the session closes here."""
    assert t.supervisor is not None
    briefing = Briefing(
        opening=t.render(step.say),
        instructions=step.instructions or "",
        reason=t.reason,
        summary=t.summary,
        waited_s=t.elapsed(),
    )

    def decided(accepted: bool) -> None:
        if not decision.done():
            decision.set_result("accepted" if accepted else "declined")

    talking: asyncio.Future[None] = asyncio.ensure_future(
        t.media.converse(t.leg_room, t.supervisor, briefing, decided)
    )
    sleeper: asyncio.Future[None] = asyncio.ensure_future(t.clock.sleep(step.timeout))
    pending: set[asyncio.Future[Any]] = {decision, sleeper, talking}
    try:
        while True:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if decision.done():
                return decision.result()
            if sleeper in done:
                return "timeout"
            talking.result()  # a conversation that failed fails the step
            pending.discard(talking)  # it ended quietly: the keypad or the timeout decides
    finally:
        for task in (talking, sleeper):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # closes at once (`Media`)
            await talking
        with contextlib.suppress(asyncio.CancelledError):
            await sleeper


async def cold_transfer(t: Running, step: ColdTransferStep) -> str:
    target = t.flow.targets[step.to]
    uri = target.uri or f"tel:{target.number}"
    if step.say:
        await say(t, t.render(step.say))
    try:
        taken = await t.gateway.transfer(
            t.log, t.room, t.caller_identity, uri, step.timeout, step.play_dialtone
        )
    except LiveKitError as error:
        if error.sip_status is not None:
            t.dialling.last_sip_status = error.sip_status
        elif error.code == "not_found":
            await t.caller_gone()
        return "failed"
    if taken is False:
        return "failed"
    t.merge.confirmed = bool(taken)  # None: the REFER was accepted, outcome unknown
    return "transferred"


Action = Callable[[Running, str, Any], Awaitable[str]]

ACTIONS: dict[str, Action] = {
    "hold": lambda t, name, step: hold(t, step),
    "dial": lambda t, name, step: dial(t, step, name),
    "brief": lambda t, name, step: brief(t, step),
    "merge": lambda t, name, step: merge(t, step),
    "announce": lambda t, name, step: announce(t, step),
    "cold_transfer": lambda t, name, step: cold_transfer(t, step),
    "open_hours": lambda t, name, step: hours.open_hours(t, step),
    "callback": lambda t, name, step: hours.callback(t, name, step),
}
"""What a visit of each non-terminal step type does (`flow.steps.STEP_TYPES` says what the
type is): called with the transfer, the step's name and the step, returns its outcome."""
assert set(ACTIONS) == {n for n, k in STEP_TYPES.items() if not k.terminal}, "an action per type"


async def run_step(t: Running, name: str, step: Step) -> str:
    """Run one visit of a non-terminal step and return its outcome event."""
    action = ACTIONS.get(step.type)
    if action is None:
        raise AssertionError(f"{step.type} steps are terminal")
    return await action(t, name, step)
