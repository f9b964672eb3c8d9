"""The rig every reliability case runs on: a sandbox, an engine, callers, and every observer.

`Rig` starts a sandbox (the real `livekit-api` client over HTTP, on a manual clock), places a
caller and an AI agent, and runs transfers with a `TransferEngine` whose media side records
when the caller is held. It watches everything the bar asks about while the case runs:

* every room event (`Monitor`): how many supervisor legs are live at each moment, how many
  INVITEs the sandbox saw, which rooms and identities were created;
* every structured log line (`LogTap`, which also fires the case's hooks: "after the 3rd API
  request, cancel", "on entering brief_supervisor, hang up") and every stdlib log record;
* every exception the engine raised, and every request the sandbox received.

`Rig.verify()` checks the global invariants (INV-HOLD, INV-DIAL, INV-LEAK, INV-OUTCOME,
INV-LOG) after the terminal state plus a grace period, adds what it found to the figures,
then fails the case if anything was found. Leaving the rig checks that no task is left.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from livekit.protocol import models

from orchestrator import load_flow
from orchestrator.clock import ManualClock
from orchestrator.flow.model import DialStep, Flow
from orchestrator.sandbox import Event, Sandbox
from orchestrator.testing import RecordingMedia

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "reliability"
SECRET = "canary-api-secret-QmxhY2tCb3hDYW5hcnlTZWNyZXQ"
CALLER = "+14155552671"
CALLER_ROOM = "call-1"
BUSINESS = "+18005550100"
SUPERVISORS = ("+15105550100", "+15105550101", "+15105550102", "+15105550199")
CANARIES = (CALLER, CALLER[2:], *SUPERVISORS, *(n[2:] for n in SUPERVISORS), SECRET, "eyJ")
SUMMARY = f"Charged twice; call back on {CALLER} (secret {SECRET})."
GRACE_S = 90.0
"""Simulated seconds after the terminal state before leaks are counted (the consult room's
own `empty_timeout` is 60 s, so a room only the server would close is counted)."""
KINDS = {"merged", "returned", "caller_hung_up", "cold_transferred", "hung_up", "failed"}
SIP = models.ParticipantInfo.Kind.SIP
DIGIT_RUN = re.compile(r"\d{7,}")
UNSAFE_CHARS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u2028\u2029]"
)
# Request fields that name things the library creates (rooms, identities, attributes).
CREATED = {
    "RoomService.CreateRoom": ("name",),
    "SIP.CreateSIPParticipant": (
        "room_name",
        "participant_identity",
        "participant_name",
        "participant_attributes",
    ),
    "RoomService.UpdateParticipant": ("attributes",),
}


class Stuck(AssertionError):
    """The case waits on nothing the clock can end: the transfer is stuck."""


def flow(name: str, *replace: tuple[str, str]) -> Flow:
    """A shipped flow, with text replacements (each must apply)."""
    text = (ROOT / "flows" / f"{name}.yaml").read_text()
    for old, new in replace:
        assert old in text, old
        text = text.replace(old, new)
    return load_flow(text)


def warm(max_hold: int = 120, *, voice: bool = False, fallback: bool = True) -> Flow:
    changes = [("max_hold: 120", f"max_hold: {max_hold}")]
    if voice:
        changes.append(('decline_digit: "2"', 'decline_digit: "2"\n    accept_by: [dtmf, voice]'))
    if not fallback:
        changes.append(("on_rejection: business_number", "on_rejection: fail"))
    return flow("warm_transfer", *changes)


def allowed_dials(flow: Flow) -> int:
    """Dials a transfer of `flow` may make: each target once, +1 caller-ID fallback each."""
    total = 0
    for step in flow.steps.values():
        if isinstance(step, DialStep):
            policy = step.caller_id or flow.caller_id
            fallback = policy.mode == "preserve" and policy.on_rejection == "business_number"
            total += len(step.target_names()) * (2 if fallback else 1)
    return total


def widest_group(flow: Flow) -> int:
    """How many legs of a transfer of `flow` may ring at once: its largest ring group."""
    return max(
        [
            len(place.targets)
            for step in flow.steps.values()
            if isinstance(step, DialStep)
            for place in step.chain()
        ],
        default=1,
    )


def is_probe(request: dict[str, Any] | None) -> bool:
    """A request of the engine's capability probe: it names only a room or identity that
    nothing has (`orchestrator-preflight-...`) and changes nothing."""
    if not request:
        return False
    keys = ("room", "room_name", "identity", "participant_identity")
    return any(str(request.get(k, "")).startswith("orchestrator-preflight") for k in keys)


def strings(value: Any) -> Iterator[str]:
    """Every string inside a log entry, request or exception, nested ones too."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from strings(item)
    elif value is not None and not isinstance(value, int | float | bool):
        yield str(value)


def canary_hits(texts: Any) -> list[str]:
    return [c for text in strings(texts) for c in CANARIES if c in text]


@dataclass
class TimedMedia(RecordingMedia):
    """`RecordingMedia` that also records when the caller was held, and can fail on demand."""

    clock: ManualClock = field(default_factory=ManualClock)
    failing: dict[str, str] = field(default_factory=dict)
    """action -> `raise` (a RuntimeError), `stall` (never returns until cancelled) or
    `stall-once` (the first call stalls)."""
    windows: dict[str, list[list[float | None]]] = field(default_factory=dict)

    async def _fault(self, action: str) -> None:
        how = self.failing.get(action)
        if how == "raise":
            raise RuntimeError(f"media {action} failed (secret {SECRET})")
        if how == "stall":
            await asyncio.Event().wait()
        if how == "stall-once":  # this call never returns; the next ones do
            self.failing.pop(action)
            await asyncio.Event().wait()

    async def start_hold(self, room: str, music: str) -> None:
        await self._fault("start_hold")
        await super().start_hold(room, music)
        held = self.windows.setdefault(room, [])
        if not held or held[-1][1] is not None:
            held.append([self.clock.now(), None])

    async def stop_hold(self, room: str) -> None:
        await self._fault("stop_hold")
        await super().stop_hold(room)
        held = self.windows.get(room)
        if held and held[-1][1] is None:
            held[-1][1] = self.clock.now()

    async def say_to_caller(self, room: str, text: str) -> None:
        await self._fault("say_to_caller")
        await super().say_to_caller(room, text)

    async def brief(self, room: str, supervisor: str, text: str) -> None:
        await self._fault("brief")
        await super().brief(room, supervisor, text)

    async def screen_answer(self, room: str, supervisor: str) -> Any:
        await self._fault("screen_answer")
        return await super().screen_answer(room, supervisor)

    def held_between(self, room: str, start: float, end: float) -> float:
        total = 0.0
        for begin, finish in self.windows.get(room, []):
            assert begin is not None
            if start <= begin <= end:
                total += (finish if finish is not None else self.clock.now()) - begin
        return total


class Monitor:
    """Sees every room event as it happens: live supervisor legs, INVITEs, created names."""

    def __init__(self, sandbox: Sandbox, callers: dict[str, str]) -> None:
        self.sandbox, self.callers = sandbox, callers
        self.max_live = 0
        """Most supervisor legs (ringing or answered) of one transfer at one moment."""
        self.max_answered = 0
        """Most answered supervisor legs of one transfer the engine kept at once, past the
        instant they answered in. A leg counts from its answer until the engine gives it up
        (`release`: a ring group's other leg, a failed attempt) or the transfer's cleanup
        begins; ending it is then LiveKit's work, and INV-LEAK checks nothing is left."""
        self.released: set[str] = set()
        self.ending: Callable[[str], bool] = lambda transfer_id: False
        self._spans: dict[str, tuple[str, float, float | None]] = {}
        self.invites: set[str] = set()
        self.names: set[str] = set()
        self.events: list[Event] = []

    def live(self) -> dict[str, set[str]]:
        """Live supervisor legs (outbound SIP participants), grouped by transfer."""
        groups: dict[str, set[str]] = {}
        callers = set(self.callers.values())
        for state in self.sandbox.world.rooms.values():
            for member in state.members.values():
                info = member.info
                if info.kind == SIP and info.identity not in callers:
                    key = info.attributes.get("transfer.id") or info.identity
                    groups.setdefault(key, set()).add(info.identity)
        return groups

    def answered(self) -> dict[str, set[str]]:
        """Answered supervisor legs that answered before now, grouped by transfer."""
        self._track()
        now = self.sandbox.world.clock.now()
        groups: dict[str, set[str]] = {}
        for identity, (key, start, end) in self._spans.items():
            if end is None and start < now:
                groups.setdefault(key, set()).add(identity)
        return groups

    def _track(self) -> None:
        """When each answered leg answered and when it stopped being answered (left)."""
        now, callers = self.sandbox.world.clock.now(), set(self.callers.values())
        active: dict[str, str] = {}
        for state in self.sandbox.world.rooms.values():
            for member in state.members.values():
                info = member.info
                if info.kind != SIP or info.identity in callers or info.identity in self.released:
                    continue
                key = info.attributes.get("transfer.id") or ""
                if info.attributes.get("sip.callStatus") == "active" and not self.ending(key):
                    active[info.identity] = key
        for identity, key in active.items():
            if identity not in self._spans or self._spans[identity][2] is not None:
                self._spans[identity] = (key, now, None)
        for identity, (key, start, end) in list(self._spans.items()):
            if end is None and identity not in active:
                self._spans[identity] = (key, start, now)
        self.max_answered = max(self.max_answered, self._overlap())

    def release(self, identity: str) -> None:
        """The engine gave the leg up (it logged how its attempt ended, not `answered`)."""
        self.released.add(identity)
        self._track()

    def _overlap(self) -> int:
        """Most answered legs of one transfer at once, over a moment of some length (two
        that answer in one instant and one of them is hung up in it do not count)."""
        now, most = self.sandbox.world.clock.now(), 0
        per: dict[str, list[tuple[float, int]]] = {}
        for key, start, end in self._spans.values():
            stop = now if end is None else end
            if stop > start or end is None:
                per.setdefault(key, []).extend([(start, 1), (stop, -1)])
        for marks in per.values():
            count = 0
            for _, step in sorted(marks):  # at one time, ends (-1) before starts (+1)
                count += step
                most = max(most, count)
        return most

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self.max_live = max([self.max_live, *(len(g) for g in self.live().values())])
        self._track()
        who = event.participant
        if event.room not in self.callers:
            self.names.add(event.room)
        if who is not None and who.identity not in self.callers.values():
            self.names.add(who.identity)
            if event.kind == "participant_joined" and who.kind == SIP:
                # One per SIP call: a participant joining again (a reconnect) is no INVITE.
                self.invites.add(who.attributes.get("sip.callID") or who.sid)


class LogTap:
    """Captures structlog events (all processors replaced, like `capture_logs`) and stdlib
    records, and calls `on_event` with each structlog event as it is logged."""

    def __init__(self, on_event: Callable[[dict[str, Any]], None]) -> None:
        self.entries: list[dict[str, Any]] = []
        self.records: list[str] = []
        self._on_event = on_event
        self._old: list[Any] = []
        self._handler = _ListHandler(self.records)
        self._level = logging.WARNING

    def __call__(self, _: Any, method: str, event_dict: Any) -> Any:
        entry = dict(event_dict)
        entry.setdefault("log_level", method)
        self.entries.append(entry)
        self._on_event(entry)
        raise structlog.DropEvent

    def install(self) -> None:
        processors = structlog.get_config()["processors"]
        self._old = processors.copy()
        processors.clear()
        processors.append(self)
        structlog.configure(processors=processors)
        root = logging.getLogger()
        self._level = root.level
        root.setLevel(logging.INFO)
        root.addHandler(self._handler)

    def pause(self) -> None:
        """structlog back to what it was (an application may configure it meanwhile)."""
        processors = structlog.get_config()["processors"]
        processors.clear()
        processors.extend(self._old)
        structlog.configure(processors=processors)

    def resume(self) -> None:
        processors = structlog.get_config()["processors"]
        self._old = processors.copy()
        processors.clear()
        processors.append(self)
        structlog.configure(processors=processors)

    def remove(self) -> None:
        self.pause()
        root = logging.getLogger()
        root.removeHandler(self._handler)
        root.setLevel(self._level)


class _ListHandler(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(f"{record.name} {record.getMessage()} {record.exc_text or ''}")


@dataclass
class _Hook:
    kind: str  # "request" (after the k-th API call), "state" (entering a state), "started"
    key: Any
    action: Callable[[], None]
    fired: bool = False
