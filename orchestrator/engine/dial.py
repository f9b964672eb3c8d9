"""The dial step: its chain of targets and ring groups, each attempt placed with the
caller-ID policy (and redialled with the business number when a carrier refuses the
caller's), every answer screened, the first human answer kept and a group's other legs
ended at once (cut from the caller first, with `in_room`). Each dial request is in the
transfer's `InFlight` until its answer is taken: cleanup ends the leg of one cut short.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Coroutine
from typing import Any, Protocol

from orchestrator.clock import Clock
from orchestrator.engine.checkpoint import progress_soon
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
from orchestrator.engine.merge import Merging, consult_room_ready
from orchestrator.engine.outcome import Attempt
from orchestrator.engine.ports import SCREEN_TIMEOUT_S
from orchestrator.engine.reconcile import BUDGET_S, hang_up_one
from orchestrator.errors import LiveKitError, TransferError
from orchestrator.flow.model import CallerId, DialStep, Ringing, Target
from orchestrator.livekit import DIAL_MARGIN_S, Dial, classify_dial_error
from orchestrator.livekit.names import CALL_STATUS, supervisor_identity

__all__ = ["Dialling", "dial"]


class Dialling(Merging, Protocol):
    """What the dial step reads and writes of its transfer."""

    clock: Clock
    trunk: str
    caller_number: str
    caller_number_valid: bool
    dialling: DialState
    gone: set[str]
    failure_reason: str | None

    def new_leg(self, identity: str) -> None: ...


def _dial(
    t: Dialling,
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


def _ended(t: Dialling, record: Attempt, attempt: int, result: str | None = None) -> None:
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
    t: Dialling,
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


async def _place(t: Dialling, dial: Dial) -> None:
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


async def _reconcile(t: Dialling, identity: str) -> str:
    """A lost answer: the leg may exist anyway. `answered` if it is live (then it is used)."""
    info = await t.gateway.get_participant(t.log, t.leg_room, identity)
    if info is not None and info.attributes.get(CALL_STATUS) == "active":
        return "answered"
    return "gone"


async def dial(t: Dialling, step: DialStep, name: str) -> str:
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
    t: Dialling,
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


def _number(t: Dialling, record: Attempt) -> int:
    """The attempt's number (each attempt counted once, in the order they were made)."""
    return t.dialling.attempts.index(record) + 1


def _of(t: Dialling, group: str) -> set[str]:
    return {a.identity for a in t.dialling.attempts if a.group == group}


async def _cut_at_answer(
    t: Dialling, attempt: Awaitable[tuple[str, int | None, Attempt]], cut: set[str]
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


async def _cut(t: Dialling, identity: str) -> bool:
    """`in_room`: `identity` and the caller's room stop hearing each other (False if that
    failed: kept, the leg is isolated again, `_screened`; lost, it is hung up anyway)."""
    try:
        await isolate(t, identity)
    except Exception as error:
        t.log.warning("transfer.isolate_failed", error=type(error).__name__)
        return False
    return True


async def _screened(t: Dialling, record: Attempt, cut: set[str]) -> str:
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


async def _another_answered(t: Dialling, record: Attempt, cut: set[str]) -> None:
    """A group's leg answered after (or with) the one kept: hung up (BYE) at once."""
    record.result = "another_answered"
    _ended(t, record, _number(t, record))
    _stopping(t, _end_other(t, record.identity, isolated=record.identity in cut))


def _stopping(t: Dialling, work: Coroutine[Any, Any, None]) -> None:
    """A group's other leg ends beside the transfer (the kept one is briefed meanwhile);
    cleanup cancels what is left of it and ends the leg itself."""
    stopping = asyncio.ensure_future(work)
    t.dialling.stopping.add(stopping)
    stopping.add_done_callback(t.dialling.stopping.discard)


async def _end_other(t: Dialling, identity: str, *, isolated: bool = False) -> None:
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


async def _stop_dial(t: Dialling, request: Request) -> None:
    """A group's other leg still ringing: CANCEL as soon as it shows (BYE if it answers
    meanwhile). Cut short (the transfer ends), the request stays for cleanup to end."""
    if await cancel_dial(t, request, request.deadline + DIAL_MARGIN_S):
        await _end_other(t, dialing(request).identity)
    t.inflight.taken(request)


async def _screen(t: Dialling, supervisor: str) -> str:
    try:
        return await t.within(SCREEN_TIMEOUT_S, t.media.screen_answer(t.leg_room, supervisor))
    except TimeoutError:
        t.log.warning("transfer.media_failed", call="screen_answer", error="TimeoutError")
        return "human"  # as the worker's own screening does when it cannot tell
