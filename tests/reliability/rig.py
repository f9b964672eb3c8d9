"""`Rig`: one sandbox and one engine for one reliability case, and the invariants after it.

```python
async with Rig(scenario, fault="A1") as rig:
    rig.after_request(3, rig.cancel)            # a hook: cancel once the 3rd API call is back
    await rig.start(warm())
    outcomes = await rig.finish()               # terminal state, then the grace period
    rig.verify()                                # the global invariants; counted, then asserted
```
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
import zlib
from collections.abc import Callable
from typing import Any

from orchestrator import TransferEngine
from orchestrator.clock import ManualClock
from orchestrator.engine import RoomEvents, Transfer, TransferOutcome
from orchestrator.flow.model import Flow
from orchestrator.livekit.names import supervisor_identity
from orchestrator.sandbox import Event, Sandbox, Scenario
from orchestrator.sandbox.core import Flavor
from orchestrator.simulate import hung_up
from tests.reliability import invariants
from tests.reliability.acts import Acts
from tests.reliability.figures import FIGURES
from tests.reliability.harness import (
    API_KEY,
    CALLER_ROOM,
    GRACE_S,
    SECRET,
    SUMMARY,
    LogTap,
    Monitor,
    Stuck,
    TimedMedia,
    _Hook,
    is_probe,
)

__all__ = ["Rig", "outcome_of"]

_QUIET_PASSES = 20
_MAX_PASSES = 200_000


class Rig(Acts):
    """See the module docstring. `fault` names the catalogue case; it counts in the figures
    as injected on entry, and as survived when the invariants held and the case passed."""

    def __init__(
        self,
        scenario: dict[str, Any] | Scenario | None = None,
        *,
        fault: str | None = None,
        flavor: Flavor = "cloud",
        caller_number: str | None = None,
        room: str = CALLER_ROOM,
        failing_media: dict[str, str] | None = None,
        api_key: str = API_KEY,
        api_secret: str = SECRET,
        events: str = "once",
    ) -> None:
        self.scenario = (
            scenario if isinstance(scenario, Scenario) else Scenario.model_validate(scenario or {})
        )
        self.fault, self.flavor, self.room = fault, flavor, room
        self._caller_number = caller_number
        self._failing = dict(failing_media or {})
        self._engine_key, self._engine_secret = api_key, api_secret
        self.callers: dict[str, str] = {}
        self.transfers: list[Transfer] = []
        self.flows: dict[int, Flow] = {}
        self.started_at: dict[int, float] = {}
        self.ended_at: dict[int, float] = {}
        self.others: list[TransferEngine] = []
        self.moved_at: dict[str, float] = {}  # the last transition of each transfer id
        self.cut_at = 0.0  # the last cancel, kill or drain
        self.errors: list[BaseException] = []
        self.requests_seen = 0
        self.releases: list[tuple[str, float | None]] = []
        """Merged calls ended by the rig: (room, seconds from one side hanging up to the
        other's BYE; None when LiveKit failed meanwhile, so only the release counts)."""
        self.verified = False
        self._hooks: list[_Hook] = []
        self._watchers: list[tuple[int, Callable[[], None]]] = []
        self._timers: list[asyncio.Task[None]] = []
        self._unsubscribe: list[Callable[[], None]] = []
        self.events = events
        """How room events reach the engine: `once`, `twice` (every one duplicated), `late`
        (each 0.5 s late) or `swap` (each pair delivered in reverse order)."""
        self._held: Event | None = None
        self.starting: asyncio.Future[Transfer] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Rig:
        if self.fault:
            FIGURES.faults_injected += 1
        self.tap = LogTap(self._on_log)
        self.tap.install()
        self.clock = ManualClock()
        self.sandbox = Sandbox(
            self.scenario, api_key=API_KEY, api_secret=SECRET, flavor=self.flavor, clock=self.clock
        )
        await self.sandbox.start()
        self.add_caller(self.room, self._caller_number)
        self.media = TimedMedia(
            clock=self.clock,
            failing=self._failing,
            on_agent_leave=lambda room: self.sandbox.remove(room, "agent"),
        )
        self.engine = TransferEngine(
            self.sandbox.url,
            self._engine_key,
            self._engine_secret,
            media=self.media,
            trunk=self.scenario.trunk.id,
            clock=self.clock,
        )
        self.monitor = Monitor(self.sandbox, self.callers)
        self.monitor.ending = lambda transfer_id: any(
            t.ending for t in self.transfers if t.transfer_id == transfer_id
        )
        self._unsubscribe = [
            self.sandbox.subscribe(self.monitor),
            self.sandbox.subscribe(self.feed),
        ]
        return self

    async def __aexit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            for timer in self._timers:
                timer.cancel()
            await asyncio.gather(*self._timers, return_exceptions=True)
            for unsubscribe in self._unsubscribe:
                unsubscribe()
            for engine in [self.engine, *self.others]:
                with contextlib.suppress(Stuck):
                    await self.run_until(asyncio.ensure_future(engine.aclose()), limit=600)
            await self.engine.gateway.close()
            await self.sandbox.stop()
        finally:
            self.tap.remove()
        await asyncio.sleep(0)
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        FIGURES.leaks_found += len(left)
        if kind is None:
            assert left == [], f"tasks left running: {left}"
            if self.fault and self.verified:
                FIGURES.faults_survived += 1

    def another_engine(self, *, same_process: bool = False) -> TransferEngine:
        """A second engine on the same sandbox, as another worker would run (in another
        process: it does not see this one's transfers, only what LiveKit shows; or, with
        `same_process`, another job of the same worker); its transfers get the room events
        too, and it is closed with the rig."""
        engine = TransferEngine(
            self.sandbox.url,
            API_KEY,
            SECRET,
            media=TimedMedia(clock=self.clock),
            trunk=self.scenario.trunk.id,
            clock=self.clock,
        )
        if not same_process:  # the engines of one event loop know each other's transfers
            engine._peers.discard(engine)
            engine._peers = weakref.WeakSet([engine])
        self.others.append(engine)
        deliver = lambda event: self.deliver(  # noqa: E731
            event, [*engine.active.values(), *engine.calls.values()]
        )
        self._unsubscribe.append(self.sandbox.subscribe(deliver))
        return engine

    def add_caller(self, room: str, number: str | None = None) -> str:
        """An inbound caller (a SIP participant) and an AI agent in `room`; an empty
        `number` is a caller whose INVITE had no usable From (no `sip.phoneNumber`)."""
        self.callers[room] = self.sandbox.place_caller(room, number or None)
        if number == "":
            self.sandbox.world.set_attributes(room, self.callers[room], {"sip.phoneNumber": ""})
        self.sandbox.add_agent(room)
        return self.callers[room]

    # -- driving ----------------------------------------------------------------------------

    async def settle(self) -> None:
        """Let every piece of work run until all that is left waits on simulated time."""
        quiet = passes = 0
        core = self.sandbox.core
        while quiet < _QUIET_PASSES:
            await asyncio.sleep(0)
            self._poll()
            passes += 1
            if passes > _MAX_PASSES:
                raise Stuck("the case never settles")
            parked = len(core.requests & core.parked_tasks)
            settled = self.engine.gateway.inflight <= parked and core.idle
            quiet = quiet + 1 if settled else 0

    async def run_until(self, until: asyncio.Future[Any], limit: float = 7200.0) -> None:
        """Move time deadline by deadline until `until` is done (at most `limit` seconds)."""
        give_up = self.clock.now() + limit
        while not until.done():
            await self.settle()
            if until.done():
                break
            deadline = self.clock.next_deadline()
            if deadline is None or deadline > give_up:
                raise Stuck(f"nothing left to wait for at t={self.clock.now():.3f}")
            await self.clock.advance(deadline - self.clock.now())
        await until

    async def advance(self, seconds: float) -> None:
        """Let `seconds` of simulated time pass, every deadline in between in order."""
        target = self.clock.now() + seconds
        while True:
            await self.settle()
            deadline = self.clock.next_deadline()
            if deadline is None or deadline > target:
                break
            await self.clock.advance(deadline - self.clock.now())
        await self.clock.advance(max(0.0, target - self.clock.now()))
        await self.settle()

    async def start(
        self,
        flow: Flow,
        *,
        room: str | None = None,
        summary: str = SUMMARY,
        reason: str = "",
        caller_identity: str | None = None,
    ) -> Transfer:
        """Start a transfer (driving the clock while it starts); errors are kept, then raised."""
        starting = self.starting = asyncio.ensure_future(
            self.engine.start(
                flow,
                room=room or self.room,
                summary=summary,
                reason=reason,
                caller_identity=caller_identity,
            )
        )
        try:
            await self.run_until(starting)
        except BaseException as error:
            self.errors.append(error)
            raise
        transfer = starting.result()
        self.adopt(transfer, flow)
        return transfer

    def adopt(self, transfer: Transfer, flow: Flow) -> None:
        """Watch a transfer started here (or by `another_engine`) like the rig's own."""
        # A view of the outcome: the transfer's own future keeps it (and its callback) alive.
        ended = transfer.outcome
        ended.add_done_callback(lambda _: self.ended_at.setdefault(id(transfer), self.clock.now()))
        self.transfers.append(transfer)
        self.flows[id(transfer)] = flow
        self.started_at[id(transfer)] = self.clock.now()

    async def finish(self, grace: float = GRACE_S) -> list[TransferOutcome]:
        """Every transfer to its terminal state, then the grace period before leaks count."""
        for transfer in self.transfers:
            await self.run_until(asyncio.ensure_future(_outcome(transfer)))
        await self.end_merged_calls()
        await self.advance(grace)
        return [transfer.outcome.result() for transfer in self.transfers]

    async def end_merged_calls(self) -> None:
        """A merged call goes on after its outcome: one side hangs up (which one depends on
        the case), and the other must be released (their phone gets BYE), within 2 s when
        LiveKit answers (`invariants.check_releases`)."""
        for engine in [self.engine, *self.others]:
            for call in list(engine.calls.values()):
                salt = zlib.crc32(f"{self.fault}/{call.room}".encode())
                first, other = (call.caller, call.supervisor)[:: 1 if salt % 2 else -1]
                sent, injected = len(self.sandbox.requests), self.sandbox.faults.injected
                self.sandbox.hang_up(call.room, first)
                await self.run_until(call.ended, limit=600)
                logs = {(log.room, log.identity): log for log in self.sandbox.phone_logs}
                hung, freed = logs.get((call.room, first)), logs.get((call.room, other))
                # LiveKit failed meanwhile: an error answer, or any injected fault (a slow
                # answer, one still on its way, is no answer yet either).
                failed = self.sandbox.faults.injected > injected or any(
                    r["rpc"] in ("RoomService.DeleteRoom", "RoomService.RemoveParticipant")
                    and r.get("code") != "ok"
                    for r in self.sandbox.requests[sent:]
                )
                took = None
                if hung and freed and hung.ended_at is not None and freed.ended_at is not None:
                    # A side that hung up before (a cut), released by the engine already:
                    # timed from whichever phone ended first.
                    took = None if failed else round(abs(freed.ended_at - hung.ended_at), 3)
                    self.releases.append((call.room, took))
                else:
                    self.releases.append((call.room, -1.0))  # a phone call never ended

    async def run(self, flow: Flow, **options: Any) -> TransferOutcome:
        """Start, finish and verify one transfer; its outcome."""
        await self.start(flow, **options)
        (outcome, *_) = await self.finish()
        self.verify()
        return outcome

    # -- hooks: faults and events at chosen moments --------------------------------------

    def _on_log(self, entry: dict[str, Any]) -> None:
        if entry.get("event") == "livekit.request":
            self.requests_seen += 1
            self._fire("request", self.requests_seen)
            if entry.get("ok"):
                self._fire("rpc", entry.get("rpc"))
        elif entry.get("event") == "dial.result" and entry.get("result") != "answered":
            attempt = int(entry.get("attempt") or 0)
            self.monitor.release(supervisor_identity(str(entry.get("transfer_id")), attempt))
        elif entry.get("event") == "transfer.transition":
            self.moved_at[str(entry.get("transfer_id"))] = self.clock.now()
            self._fire("state", entry.get("to_state"))

    def _fire(self, kind: str, key: Any) -> None:
        for hook in self._hooks:
            if not hook.fired and hook.kind == kind and hook.key == key:
                hook.fired = True
                asyncio.get_running_loop().call_soon(hook.action)

    def _poll(self) -> None:
        for index, (count, action) in enumerate(self._watchers):
            if count and self.sandbox.started >= count:
                self._watchers[index] = (0, action)
                action()

    def after_request(self, k: int, action: Callable[[], None]) -> _Hook:
        """Run `action` at the engine's next await once its k-th API call has answered."""
        hook = _Hook("request", k, action)
        self._hooks.append(hook)
        return hook

    def after_rpc(self, rpc: str, action: Callable[[], None]) -> _Hook:
        """Run `action` at the engine's next await once a call of `rpc` succeeded."""
        hook = _Hook("rpc", rpc, action)
        self._hooks.append(hook)
        return hook

    def on_state(self, state: str, action: Callable[[], None]) -> _Hook:
        """Run `action` right after the transfer first enters `state`."""
        hook = _Hook("state", state, action)
        self._hooks.append(hook)
        return hook

    def in_flight(self, k: int, action: Callable[[], None]) -> None:
        """Run `action` while the k-th request is at the sandbox (the engine awaiting it)."""
        self._watchers.append((k, action))

    def at(self, seconds: float, action: Callable[[], None]) -> None:
        """Run `action` at simulated time `seconds` from now."""

        async def later() -> None:
            await self.clock.sleep(seconds)
            action()

        self._timers.append(asyncio.ensure_future(later()))

    # -- events and actions --------------------------------------------------------------

    def feed(self, event: Event) -> None:
        """Room events to the engine's transfers, as a worker's `rtc.Room` would."""
        if event.kind == "voicemail_greeting" and event.participant is not None:
            self.media.machines.add(event.participant.identity)  # the detector, not an event
        if self.events == "twice":
            self.deliver(event)
            self.deliver(event)
        elif self.events == "late":
            self.at(0.5, lambda: self.deliver(event))
        elif self.events == "swap" and event.kind in ("participant_left", "sip_dtmf_received"):
            if self._held is None:
                self._held = event
                self.at(0.2, self._release)  # a lone event is not held forever
            else:
                held, self._held = self._held, None
                self.deliver(event)
                self.deliver(held)
        else:
            self.deliver(event)

    def _release(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self.deliver(held)

    def deliver(self, event: Event, to: list[RoomEvents] | None = None) -> None:
        who = event.participant.identity if event.participant is not None else ""
        targets: list[RoomEvents] = [*self.engine.active.values(), *self.engine.calls.values()]
        for transfer in targets if to is None else to:
            if event.kind == "participant_left":
                transfer.participant_left(event.room, who, hung_up=hung_up(event))
            elif event.kind == "participant_joined":  # a rejoin is repaired, as in a worker
                transfer.participant_joined(event.room, who)
            elif event.kind == "sip_dtmf_received":
                transfer.dtmf(event.room, who, event.digit)

    @property
    def transfer(self) -> Transfer:
        return self.transfers[-1]

    def supervisor(self) -> tuple[str, str] | None:
        """(room, identity) of the live supervisor leg, if any."""
        callers = set(self.callers.values())
        legs = [key for key in self.sandbox.legs.legs if key[1] not in callers]
        return legs[-1] if legs else None

    def dials(self) -> list[dict[str, Any]]:
        """CreateSIPParticipant requests that dial someone (not the engine's grant probe,
        which names no callee and nothing real)."""
        return [
            r["request"]
            for r in self.sandbox.requests
            if r["rpc"] == "SIP.CreateSIPParticipant" and not is_probe(r["request"])
        ]

    def rpcs(self) -> list[str]:
        return [r["rpc"] for r in self.sandbox.requests]

    # -- the invariants --------------------------------------------------------------------

    def held(self, transfer: Transfer) -> float:
        """Seconds the caller was held by `transfer`: hold windows that began between its
        start and the start of the next transfer for the same room (or now)."""
        start = self.started_at[id(transfer)]
        later = [
            self.started_at[id(t)]
            for t in self.transfers
            if t.room == transfer.room and self.started_at[id(t)] > start
        ]
        end = min(later, default=self.clock.now() + 1.0)
        return self.media.held_between(transfer.room, start, end - 1e-9)

    def verify(self) -> None:
        """INV-HOLD, INV-DIAL, INV-LEAK, INV-OUTCOME, INV-LOG; counted, then asserted."""
        invariants.verify(self)

    def one_invite(self) -> None:
        """For cases that dial by hand (no transfer): exactly one INVITE, then no leg left."""
        invariants.one_invite(self)


async def _outcome(transfer: Transfer) -> TransferOutcome:
    return await transfer.outcome


async def outcome_of(transfer: Transfer) -> TransferOutcome:
    """`transfer.outcome` as a coroutine, for a waiter run as its own task."""
    return await transfer.outcome
