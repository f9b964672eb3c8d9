"""What each step does against LiveKit. Each action returns the outcome event of its step.

Actions run as one task per step visit; leaving the step cancels the task, and whatever it
started is undone by the transfer's cleanup (the consult room is deleted, which hangs up any
supervisor leg in it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from orchestrator.engine import hours
from orchestrator.engine.checkpoint import checkpoint, claimed_by
from orchestrator.engine.dial import Dialling, dial
from orchestrator.engine.merge import create_consult_room, merge
from orchestrator.engine.outcome import Callback
from orchestrator.engine.ports import MEDIA_TIMEOUT_S, Briefing, speech_timeout
from orchestrator.errors import LiveKitError
from orchestrator.flow.model import AnnounceStep, BriefStep, ColdTransferStep, HoldStep, Step
from orchestrator.flow.steps import STEP_TYPES

__all__ = ["ACTIONS", "Running", "run_step"]

T = TypeVar("T")


class Running(Dialling, Protocol):
    """What the steps' actions read and write of their transfer."""

    callback: Callback | None
    summary: str
    reason: str

    def render(self, template: str) -> str: ...

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
