"""Run a flow against the embedded sandbox: the engine for real, the phones scripted.

The caller is placed in a room as an inbound SIP participant, the AI agent joins it as an agent
participant, and the sandbox's room events (people leaving, DTMF, an answering machine
picking up) are fed to the engine the way a worker's `rtc.Room` would feed them.

Simulation-only log events, for the designer's timeline (`orchestrator.timeline`), logged
through structlog with the transfer's `transfer_id` and `flow`, numbers masked as logs are
(the attempts are the engine's own `dial.request` and `dial.result`):

* `simulate.said`: `to` (`caller` or `supervisor`), `text`, and for a supervisor `target`.
* `simulate.said`: also the answers of a conversational brief (`to: supervisor`).
* `simulate.heard`: `from` (`supervisor`), `text`: what the supervisor said to a
  conversational brief (a question, or the decision).
* `simulate.media`: `action` (`start_hold` with `music`, `stop_hold`, `agent_leave`,
  `brief_closed`: the conversational brief's session closed).

A worker logs none of these: they come from the simulation's own media and dial watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import structlog

from orchestrator.clock import Clock, ManualClock
from orchestrator.engine import (
    CallEnd,
    RoomEvents,
    Transfer,
    TransferEngine,
    TransferOutcome,
)
from orchestrator.flow.model import Flow
from orchestrator.livekit.names import CALL_STATUS
from orchestrator.logs import mask
from orchestrator.sandbox import Event, Sandbox, Scenario
from orchestrator.sandbox.core import Flavor
from orchestrator.sandbox.scenario import BriefTalk
from orchestrator.testing import BriefTurns, MediaCall, RecordingMedia

__all__ = ["CALLER_ROOM", "Simulation", "Watch", "connect", "simulate"]

CALLER_ROOM = "call-1"
SUMMARY = "The caller was charged twice for the same order and wants a refund."
REASON = "a billing dispute"
# The sandbox is local; the secret is random per run, never shown, never a real credential.
_API_KEY = "simulate"
_QUIET_PASSES = 20
_CALL_WATCH_S = 3600.0  # how long a simulation follows a merged call for a hang-up


@dataclass
class Simulation:
    """What happened, and what was left in the sandbox when the transfer ended."""

    outcome: TransferOutcome
    media: RecordingMedia
    requests: list[dict[str, Any]] = field(default_factory=list)
    leftover_rooms: list[str] = field(default_factory=list)
    leftover_legs: list[str] = field(default_factory=list)
    caller_attributes: dict[str, str] | None = None
    """The caller's attributes at the end; None when the caller had left."""
    call_end: CallEnd | None = None
    """After a merge, how the call ended, if someone hung up within the simulation."""

    def dials(self) -> list[dict[str, Any]]:
        """The CreateSIPParticipant requests that dialled someone, in order (the engine's
        grant probe names no callee)."""
        return [
            r["request"]
            for r in self.requests
            if r["rpc"] == "SIP.CreateSIPParticipant" and r["request"].get("sip_call_to")
        ]


async def drive(
    sandbox: Sandbox, engine: TransferEngine, until: asyncio.Future[Any], limit: float = 86_400
) -> None:
    """Run a manual clock as fast as the work allows, deterministically.

    Time moves only when nothing but simulated time is pending: every API call in flight is
    parked at the sandbox on a timer (a phone ringing, a delayed answer). Then it jumps to
    the next deadline.
    """
    clock = sandbox.manual_clock
    while not until.done():
        quiet = 0
        while quiet < _QUIET_PASSES and not until.done():
            await asyncio.sleep(0)
            # Requests the client gave up on may stay parked: "at most", not "exactly".
            parked = len(sandbox.core.requests & sandbox.core.parked_tasks)
            settled = engine.gateway.inflight <= parked and sandbox.core.idle
            quiet = quiet + 1 if settled else 0
        deadline = clock.next_deadline()
        if until.done():
            return
        if deadline is None or deadline > limit:
            raise RuntimeError("the simulation is stuck: nothing left to wait for")
        await clock.advance(deadline - clock.now())


def connect(sandbox: Sandbox, engine: TransferEngine, media: RecordingMedia) -> Callable[[], None]:
    """Feed the sandbox's room events to the engine's transfers; returns the unsubscriber."""

    def on_event(event: Event) -> None:
        who = event.participant.identity if event.participant is not None else ""
        if event.kind == "voicemail_greeting":
            media.machines.add(who)
        targets: list[RoomEvents] = [*engine.active.values(), *engine.calls.values()]
        for transfer in targets:
            if event.kind == "participant_joined":
                transfer.participant_joined(event.room, who)
            elif event.kind == "track_published" and event.participant is not None:
                for track in event.participant.tracks:
                    transfer.track_published(event.room, who, track.sid)
            elif event.kind == "participant_left":
                transfer.participant_left(event.room, who, hung_up=hung_up(event))
            elif event.kind == "sip_dtmf_received":
                transfer.dtmf(event.room, who, event.digit)

    return sandbox.subscribe(on_event)


class Watch:
    """Logs the simulation-only events (see the module's docstring) for the media calls.

    The attempts need no watching: the engine logs them (`dial.request`, `dial.result`).
    """

    def __init__(self, engine: TransferEngine, flow: Flow) -> None:
        self.engine, self.flow = engine, flow
        self.transfers: list[Transfer] = []

    def _log(self, transfer: Transfer | None) -> Any:
        if transfer is not None:
            return transfer.log
        return structlog.get_logger().bind(transfer_id="", flow=self.flow.name)

    def _known(self) -> list[Transfer]:
        for transfer in self.engine.active.values():
            if transfer not in self.transfers:
                self.transfers.append(transfer)
        return self.transfers

    def _in(self, room: str) -> Transfer | None:
        return next(
            (t for t in reversed(self._known()) if room in (t.room, t.leg_room, t.consult_room)),
            None,
        )

    def media(self, call: MediaCall) -> None:
        transfer = self._in(call.room)
        log = self._log(transfer)
        if call.action == "say_to_caller":
            log.info("simulate.said", to="caller", text=mask(call.text))
        elif call.action in ("supervisor_asked", "supervisor_said"):
            log.info("simulate.heard", **{"from": "supervisor"}, text=mask(call.text))
        elif call.action in ("brief", "said_to_supervisor"):
            attempts = transfer.attempts if transfer is not None else []
            target = next((a.target for a in attempts if a.identity == call.to), "")
            log.info("simulate.said", to="supervisor", target=target, text=mask(call.text))
        elif call.action == "start_hold":
            log.info("simulate.media", action=call.action, music=call.text)
        else:
            log.info("simulate.media", action=call.action)


def talks(sandbox: Sandbox) -> Callable[[str], BriefTurns | None]:
    """What the scenario's phone of a supervisor leg says to a conversational brief."""

    def turns(supervisor: str) -> BriefTurns | None:
        logs = [log for log in sandbox.legs.logs if log.identity == supervisor]
        phone = sandbox.scenario.phone(logs[-1].number) if logs else None
        if phone is None or not isinstance(phone.on_brief, BriefTalk):
            return None
        sandbox.legs.conversing(supervisor)
        spoken = phone.reaction in ("accept", "decline") and not phone.keypad
        decision = phone.reaction == "accept" if spoken else None
        answered = partial(sandbox.legs.questions_answered, supervisor) if phone.asks else None
        return BriefTurns(phone.asks, decision, phone.decide_after, answered)

    return turns


def _ended(call: asyncio.Future[CallEnd] | None) -> CallEnd | None:
    if call is None or not call.done() or call.result().hung_up_first is None:
        return None  # no merged call, or nobody hung up while it was watched
    return call.result()


def hung_up(event: Event) -> bool:
    """Whether a participant left because their phone call ended (LiveKit's SIP bridge sets
    `sip.callStatus: hangup` before the participant leaves)."""
    info = event.participant
    return info is not None and info.attributes.get(CALL_STATUS) == "hangup"


async def simulate(
    flow: Flow,
    scenario: Scenario | None = None,
    *,
    flavor: Flavor = "cloud",
    record: str | Path | None = None,
    clock: Clock | None = None,
    summary: str = SUMMARY,
    reason: str = REASON,
) -> Simulation:
    """Run one transfer of `flow` in a fresh sandbox and return what happened."""
    scenario = scenario or Scenario()
    secret = secrets.token_urlsafe(32)
    sandbox = Sandbox(
        scenario, api_key=_API_KEY, api_secret=secret, flavor=flavor, clock=clock, record=record
    )
    async with sandbox:
        caller_identity = sandbox.place_caller(CALLER_ROOM)
        sandbox.add_agent(CALLER_ROOM)
        media = RecordingMedia()  # the agent's job stays, unheard, while the call goes on
        engine = TransferEngine(
            sandbox.url,
            _API_KEY,
            secret,
            media=media,
            trunk=scenario.trunk.id,
            clock=sandbox.clock,
        )
        watch = Watch(engine, flow)
        media.on_call = watch.media
        media.talks, media.sleep = talks(sandbox), sandbox.clock.sleep
        unsubscribe = connect(sandbox, engine, media)
        try:
            starting = asyncio.ensure_future(
                engine.start(flow, room=CALLER_ROOM, summary=summary, reason=reason)
            )
            if isinstance(sandbox.clock, ManualClock):
                await drive(sandbox, engine, starting)
            transfer = await starting
            if isinstance(sandbox.clock, ManualClock):
                await drive(sandbox, engine, transfer.outcome)
            outcome = await transfer.outcome
            call = engine.calls.get(CALLER_ROOM)
            call_end = call.ended if call is not None else None
            if call_end is not None and isinstance(sandbox.clock, ManualClock):
                limit = sandbox.clock.now() + _CALL_WATCH_S
                with contextlib.suppress(RuntimeError):  # nobody hangs up: the call goes on
                    await drive(sandbox, engine, call_end, limit=limit)
        finally:
            unsubscribe()
            await engine.aclose()
        caller = sandbox.world.member(CALLER_ROOM, caller_identity)
        return Simulation(
            outcome,
            media,
            list(sandbox.requests),
            leftover_rooms=[name for name in sandbox.world.rooms if name != CALLER_ROOM],
            leftover_legs=[
                f"{room}/{who}" for room, who in sandbox.legs.legs if who != caller_identity
            ],
            caller_attributes=dict(caller.info.attributes) if caller else None,
            call_end=_ended(call_end),
        )
