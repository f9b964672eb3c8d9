"""One transfer run end to end: the engine for real, against a target's LiveKit and phones.

The engine gets its room events the way a worker would (on the real stack, the library's own
`EventFeed` on a real `rtc.Room` connection), its media side is `RecordingMedia` (the agent
worker is another issue). `run()` returns what the test asserts on: the typed outcome, when
each step was entered, what every phone received, and what is left in LiveKit; every leak
found is counted in the figures. With `then`, a merged call is followed to its end: the
engine watches it while `then` makes one side hang up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livekit import api

from orchestrator import TransferEngine, TransferOutcome, load_flow
from orchestrator.engine import CallEnd
from orchestrator.flow.model import Flow
from orchestrator.livekit.probe import Capabilities
from orchestrator.sandbox.scenario import PhoneSpec
from orchestrator.testing import RecordingMedia
from tests.e2e.harness.figures import FIGURES
from tests.e2e.harness.targets import PhoneCall, Target

__all__ = ["Run", "flow", "run"]

ROOT = Path(__file__).resolve().parents[3]
SUMMARY = "The caller was charged twice for the same order and wants a refund."
Hook = Callable[[Target], Awaitable[None]]


def flow(name: str, **steps: dict[str, Any]) -> Flow:
    """A shipped flow, with some of its steps' fields changed (shorter ring timeouts...)."""
    loaded = load_flow(ROOT / "flows" / f"{name}.yaml")
    changed = {
        step: loaded.steps[step].model_copy(update=update) for step, update in steps.items()
    }
    return loaded.model_copy(update={"steps": {**loaded.steps, **changed}})


@dataclass
class Run:
    outcome: TransferOutcome
    entered: dict[str, float]
    """When (monotonic seconds) each step was first entered."""
    calls: list[PhoneCall]
    participants: list[str]
    checkpoint: dict[str, str]
    rooms: list[str]
    media: RecordingMedia
    call_end: CallEnd | None = None
    """How the merged call ended, when `then` made one side hang up."""
    leaks: list[str] = field(default_factory=list)


async def run(
    target: Target,
    transfer_flow: Flow,
    *,
    room: str,
    phones: dict[str, PhoneSpec],
    owned_only: bool = False,
    on_step: dict[str, Hook] | None = None,
    on_ringing: Hook | None = None,
    then: Hook | None = None,
    capabilities: Capabilities | None = None,
) -> Run:
    """Call in, start a transfer of `transfer_flow`, wait for its outcome, look around.

    `on_step`: called (as a task) when the transfer enters a step; `on_ringing`: when the
    first supervisor's phone rings (its INVITE arrived, or the sandbox's leg rings); `then`:
    after a merge, while the engine follows the call, until the call has ended.
    `capabilities`: what the engine is told the server allows (instead of its probes).
    """
    await target.phones(phones, owned_only=owned_only)
    caller = await target.call_in(room)
    media = RecordingMedia()
    engine = TransferEngine(
        target.url,
        target.api_key,
        target.api_secret,
        media=media,
        trunk=target.trunk,
        capabilities=capabilities,
    )
    call_end: CallEnd | None = None
    leaving: list[asyncio.Task[None]] = []
    media.on_agent_leave = lambda left: leaving.append(
        asyncio.ensure_future(target.agent_leave(left))
    )
    target.feed(engine, media, room)
    hooks: list[asyncio.Task[None]] = []
    entered: dict[str, float] = {}
    try:
        transfer = await engine.start(transfer_flow, room=room, summary=SUMMARY, reason="billing")

        def on_transition(_: str, to_state: str, __: str) -> None:
            entered.setdefault(to_state, time.monotonic())
            hook = (on_step or {}).get(to_state)
            if hook is not None:
                hooks.append(asyncio.ensure_future(hook(target)))

        transfer.add_listener(on_transition)
        if on_ringing is not None:
            hooks.append(asyncio.ensure_future(_when_ringing(target, on_ringing)))
        outcome = await asyncio.wait_for(transfer.outcome, 180)
        if then is not None and outcome.kind == "merged":
            call = engine.calls[room]
            await then(target)
            call_end = await asyncio.wait_for(call.ended, 30)
        if hooks or leaving:  # a hook still running (a watcher, say) is stopped
            await asyncio.wait([*hooks, *leaving], timeout=10)
    finally:
        for task in hooks:
            task.cancel()
        await engine.aclose()
    for task in [*hooks, *leaving]:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    rooms = await target.lk.room.list_rooms(api.ListRoomsRequest())
    people: dict[str, dict[str, str]] = {}
    if any(r.name == room for r in rooms.rooms):
        listing = await target.lk.room.list_participants(api.ListParticipantsRequest(room=room))
        people = {p.identity: dict(p.attributes) for p in listing.participants}
    result = Run(
        outcome=outcome,
        entered=entered,
        calls=[],  # once the phones have settled (below)
        participants=sorted(people),
        checkpoint={k: v for k, v in people.get(caller, {}).items() if k.startswith("transfer.")},
        rooms=sorted(r.name for r in rooms.rooms),
        media=media,
        call_end=call_end,
    )
    result.leaks = await _leaks(target, result, room, caller)
    result.calls = target.supervisor_calls()  # a BYE or CANCEL may land after the outcome
    FIGURES.leaks(result.leaks)
    return result


async def _when_ringing(target: Target, hook: Hook) -> None:
    await target.until(
        lambda: any(c.received == ("INVITE",) for c in target.supervisor_calls()),
        60,
        "a supervisor's phone ringing",
    )
    await hook(target)


async def _leaks(target: Target, result: Run, room: str, caller: str) -> list[str]:
    """What the transfer left behind: other rooms, a checkpoint, supervisor legs that are
    not the merged one, supervisor phones still in a call they should not be in. A merged
    call that goes on keeps the caller's `transfer.state: merged` (the watch's checkpoint);
    one that ended leaves nothing: no room, no phone in a call."""
    leaks = [f"room {name}" for name in result.rooms if name not in {room, *target.preexisting}]
    ended = result.call_end is not None
    merged = result.outcome.kind == "merged" and not ended
    if ended and room in result.rooms:
        leaks.append(f"room {room} after the call ended")
    talking = {"transfer.state": "merged"} if merged else {}
    leaks += [
        f"checkpoint {key}"
        for key, value in result.checkpoint.items()
        if talking.get(key) != value and not (merged and key == "transfer.id")
    ]
    legs = [p for p in result.participants if p.startswith("supervisor-")]
    if len(legs) > int(merged):
        leaks.append(f"supervisor legs {legs}")

    def phones_settled() -> bool:
        calls = target.supervisor_calls()
        ringing = any(c.received == ("INVITE",) for c in calls)
        return not ringing and sum(c.live for c in calls) <= int(merged)

    with contextlib.suppress(TimeoutError):
        await target.until(phones_settled, 10, "supervisor phones hung up")
    if not phones_settled():
        leaks.append(f"supervisor phones still in a call: {target.supervisor_calls()}")
    if result.outcome.kind != "caller_hung_up" and not ended and caller not in result.participants:
        leaks.append("the caller was dropped")
    return leaks
