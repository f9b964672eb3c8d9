"""Random interleavings of external events (Hypothesis stateful), invariants after each step.

Each example starts one transfer of a shipped flow against a fresh sandbox (LiveKit Cloud,
or self-hosted with its `in_room` merge), with a random scripted supervisor, then applies
rules in a random order: time passes (ringing, briefs, `max_hold` and every other timer
fire as the manual clock moves), the caller hangs up, the supervisor hangs up, presses keys
or answers by voice, an API fault is armed, a room event is delivered twice or a stale one
arrives, the transfer is requested again, or cancelled.
The global invariants are `@invariant`s, checked after every step; at the end the transfer
must reach its terminal state by itself, and `Rig.verify` checks everything once more.

The sandbox and engine are async: each example drives its own event loop explicitly
(`run_until_complete` per rule), so the test itself is synchronous and independent of
pytest-asyncio's loop. `RELIABILITY_EXAMPLES` sets the number of examples (25 by default);
`RELIABILITY_RANDOM=1` draws new examples instead of the same ones every run.
Shrunk failures are kept as plain tests in the module of their subject (`test_cleanup.py`,
`test_checkpoint.py`, `test_hangup.py`, ...), each marked "Found by the stateful test".
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from hypothesis import HealthCheck, assume, settings, strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from orchestrator import TransferError, TransferInProgress
from orchestrator.engine import Transfer
from orchestrator.flow.model import Flow
from orchestrator.sandbox.core import Flavor
from orchestrator.sandbox.scenario import FaultSpec
from tests.reliability.cases import CREATE_ROOM, DELETE_ROOM, DIAL, MOVE, UPDATE
from tests.reliability.figures import FIGURES
from tests.reliability.harness import (
    allowed_dials,
    canary_hits,
    flow,
    warm,
    widest_group,
)
from tests.reliability.rig import Rig, outcome_of

T = TypeVar("T")
EXAMPLES = int(os.environ.get("RELIABILITY_EXAMPLES", "25"))
RANDOM = bool(os.environ.get("RELIABILITY_RANDOM"))
FLOWS = {
    "warm": lambda: warm(max_hold=30),
    "warm-voice": lambda: warm(voice=True),
    "chain": lambda: flow("supervisor_chain"),
    "cold": lambda: flow("cold_transfer"),
    "ring_group": lambda: flow("ring_group"),
}
RING_GROUP_SECOND = "+15105550101"  # bob in flows/ring_group.yaml
PHONES = st.fixed_dictionaries(
    {
        "answer": st.sampled_from(
            [0.0, 0.5, 1.0, 3.0, 8.0, 40.0, "busy", "no_answer", "decline", "voicemail"]
        ),
        "on_brief": st.sampled_from(["accept", "decline", "hangup", "silent", "silent"]),
        "decide_after": st.sampled_from([0.0, 0.5, 2.0, 40.0]),
    }
)
RPCS = [
    DIAL,
    MOVE,
    UPDATE,
    CREATE_ROOM,
    DELETE_ROOM,
    "RoomService.GetParticipant",
    "RoomService.ListParticipants",
    "RoomService.RemoveParticipant",
    "RoomService.UpdateSubscriptions",
    "SIP.TransferSIPParticipant",
]
CODES = [None, "unavailable", "internal", "resource_exhausted", "deadline_exceeded", "not_found"]
# Cleanup retries what must not be left behind about 12 times over some 40 s: a longer run
# of failures of one call is a limit (the API is down), not a bug.
FAILURES_LIMIT = 10
# A checkpoint write LiveKit applies after its client gave up on it (10 s) and cleanup
# stopped waiting (10 s more) is beyond what the library can see (README, Limits).
LATE_WRITE_LIMIT_S = 20.0


def _claimed(rig: Rig) -> bool:
    """The caller carries a claim, or a supervisor leg a transfer dialled is in the room."""
    member = rig.sandbox.world.member(rig.room, rig.callers[rig.room])
    legs = [key for key in rig.sandbox.legs.legs if key[0] == rig.room]
    claimed = member is not None and bool(member.info.attributes.get("transfer.id"))
    return claimed or any(who != rig.callers[rig.room] for _, who in legs)


class TransferMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.rejected = False
        self.loop = asyncio.new_event_loop()
        self.rig: Rig | None = None
        self.flow: Flow | None = None
        self.failures: Counter[str] = Counter()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)

    def act(self, action: Callable[[Rig], object]) -> None:
        """A synchronous event inside the loop (the sandbox spawns tasks), then settle."""

        async def go() -> None:
            action(self._rig)
            await self._rig.settle()

        self.run(go())

    @property
    def _rig(self) -> Rig:
        assert self.rig is not None
        return self.rig

    # -- the start ---------------------------------------------------------------------

    @initialize(
        name=st.sampled_from(sorted(FLOWS)),
        phone=PHONES,
        owned_only=st.booleans(),
        hangup_after=st.sampled_from([None, None, 0.0, 0.5, 2.0, 4.0]),
        flavor=st.sampled_from(["cloud", "cloud", "oss"]),
        second=st.one_of(st.none(), PHONES),
    )
    def begin(
        self,
        name: str,
        phone: dict[str, Any],
        owned_only: bool,
        hangup_after: float | None,
        flavor: Flavor,
        second: dict[str, Any] | None,
    ) -> None:
        scenario: dict[str, Any] = {"phones": {"default": phone}}
        if second is not None:  # a ring group's second phone (the chain's backup) differs
            scenario["phones"][RING_GROUP_SECOND] = second
        if owned_only:
            scenario["trunk"] = {"caller_id_policy": "owned_only"}
        if hangup_after is not None:
            scenario["caller"] = {"hangup_after": hangup_after}
        self.rig = Rig(scenario, flavor=flavor)  # oss: the in_room merge
        self.run(self.rig.__aenter__())
        self.flow = FLOWS[name]()
        with contextlib.suppress(TransferError):  # the caller was gone already: refused, typed
            self.run(self.rig.start(self.flow))

    # -- external events ---------------------------------------------------------------

    @rule(seconds=st.sampled_from([0.05, 0.1, 0.3, 0.5, 1.0, 2.0, 5.0, 15.0, 40.0]))
    def time_passes(self, seconds: float) -> None:
        self.run(self._rig.advance(seconds))

    @rule()
    def caller_hangs_up(self) -> None:
        self.act(lambda rig: rig.caller_hangs_up())

    @rule()
    def supervisor_hangs_up(self) -> None:
        self.act(lambda rig: rig.supervisor_hangs_up())

    @rule(caller=st.booleans())
    def a_participant_joins_again(self, caller: bool) -> None:
        """LiveKit closes the caller's or the supervisor's participant, which joins again."""

        def reconnect(rig: Rig) -> None:
            leg = (rig.room, rig.callers[rig.room]) if caller else rig.supervisor()
            if leg is not None:
                rig.sandbox.reconnect(*leg)

        self.act(reconnect)

    @rule(digit=st.sampled_from(["1", "2", "3", "*", "#"]))
    def supervisor_presses(self, digit: str) -> None:
        self.act(lambda rig: rig.press(digit))

    @rule(accepted=st.booleans())
    def supervisor_says(self, accepted: bool) -> None:
        self.act(lambda rig: [t.decide(accepted) for t in rig.transfers])

    @rule(
        rpc=st.sampled_from(RPCS),
        code=st.sampled_from(CODES),
        lose=st.booleans(),
        delay=st.sampled_from([0.0, 0.0, 0.5, 5.0, 30.0]),
        times=st.sampled_from([1, 2, 5]),
    )
    def api_fault(self, rpc: str, code: str | None, lose: bool, delay: float, times: int) -> None:
        failing = self.failures[rpc] + (times if code else 0)
        late_write = rpc == UPDATE and delay > LATE_WRITE_LIMIT_S
        self.rejected = failing > FAILURES_LIMIT or late_write
        assume(not self.rejected)  # the example is discarded, and not counted
        self.failures[rpc] = failing
        self._rig.sandbox.faults.add(
            FaultSpec(
                rpc=rpc, code=code, times=times, delay=delay, lose_response=lose and bool(code)
            )
        )

    @rule(kind=st.sampled_from(["participant_left", "sip_dtmf_received"]))
    def an_event_again(self, kind: str) -> None:
        def again(rig: Rig) -> None:
            seen = [e for e in rig.monitor.events if e.kind == kind]
            if seen:  # a duplicate for a running transfer, a late one for an ended one
                rig.deliver(seen[-1], to=list(rig.transfers))

        self.act(again)

    @rule()
    def a_stale_leg_leaves(self) -> None:
        def stale(rig: Rig) -> None:
            for transfer in rig.transfers:
                first = f"supervisor-{transfer.transfer_id}-1"
                transfer.participant_left(transfer.consult_room, first)
                transfer.participant_left(transfer.room, "someone-else")

        self.act(stale)

    @rule()
    def transfer_requested_again(self) -> None:
        rig = self._rig
        assert self.flow is not None
        running = rig.room in rig.engine.active
        before = len(rig.transfers)
        refused: TransferError | None = None
        try:  # with the caller's identity, as the worker integration asks
            self.run(rig.start(self.flow, caller_identity=rig.callers[rig.room]))
        except TransferError as error:  # in progress, the caller gone, LiveKit refusing
            refused = error
        if refused is None:
            assert not running
            assert len(rig.transfers) == before + 1
        else:
            assert refused.reason
            if not running:  # refused as in progress only while the caller is still held
                assert not isinstance(refused, TransferInProgress) or _claimed(rig)

    @precondition(lambda self: self.rig is not None and self.rig.room in self.rig.engine.active)
    @rule(same_process=st.booleans())
    def a_second_worker_starts(self, same_process: bool) -> None:
        """Another engine (another job of the same worker, or a worker in another process)
        is asked to transfer the same caller: refused while the first transfer runs (one
        that ended meanwhile frees the caller)."""
        rig, flow = self._rig, self.flow
        assert flow is not None
        first = rig.engine.active[rig.room]

        async def go() -> Transfer | BaseException:
            other = rig.another_engine(same_process=same_process)
            starting = asyncio.ensure_future(other.start(flow, room=rig.room))
            try:
                await rig.run_until(starting)
            except TransferError as error:
                return error
            transfer = starting.result()
            rig.adopt(transfer, flow)
            return transfer

        result = self.run(go())
        if isinstance(result, Transfer):  # only once the first one had ended
            assert first.outcome.done(), "a second transfer started beside a running one"
            return
        # Else the caller was gone (config_error), or LiveKit failed the start's own calls.
        assert isinstance(result, TransferInProgress) or result.reason in (
            "config_error",
            "unavailable",
        ), result

    @precondition(lambda self: self.rig is not None and bool(self.rig.transfers))
    @rule(at=st.sampled_from([0.0, 0.1, 1.0, 5.0]))
    def a_waiter_gives_up(self, at: float) -> None:
        """Someone awaiting the outcome is cancelled (a timeout around it): nobody else is."""

        async def go() -> None:
            waiter = asyncio.ensure_future(outcome_of(self._rig.transfer))
            await self._rig.advance(at)
            waiter.cancel()
            await self._rig.settle()

        self.run(go())

    @precondition(lambda self: self.rig is not None and bool(self.rig.transfers))
    @rule()
    def cancelled(self) -> None:
        self.act(lambda rig: rig.cancel())

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def one_answered_leg_and_no_extra_dial(self) -> None:
        """At most one answered supervisor leg, and no more legs ringing than a group has."""
        rig = self.rig
        if rig is None:
            return
        allowed = sum(allowed_dials(rig.flows[id(t)]) for t in rig.transfers)
        together = max([1, *(widest_group(rig.flows[id(t)]) for t in rig.transfers)])
        answered = max([rig.monitor.max_answered, *map(len, rig.monitor.answered().values())])
        extra = max(0, rig.monitor.max_live - together) + max(0, answered - 1)
        extra += max(0, len(rig.monitor.invites) - allowed)
        FIGURES.duplicate_dials += extra
        assert extra == 0, (
            f"{rig.monitor.max_live} live legs, {answered} answered at once, "
            f"{len(rig.monitor.invites)} dials"
        )

    @invariant()
    def hold_within_max_hold(self) -> None:
        rig = self.rig
        if rig is None:
            return
        for transfer in rig.transfers:
            held = rig.held(transfer)
            FIGURES.hold(held, transfer.flow.max_hold)
            assert held <= transfer.flow.max_hold + 1.0

    @invariant()
    def an_ended_transfer_has_one_outcome_and_released_the_caller(self) -> None:
        rig = self.rig
        if rig is None:
            return
        ended = [t for t in rig.transfers if t.outcome.done()]
        ours = {t.transfer_id for t in rig.transfers}  # a failed start logs its own
        finished = [
            e
            for e in rig.tap.entries
            if e.get("event") == "transfer.finished" and e.get("transfer_id") in ours
        ]
        assert len(finished) == len(ended)
        if ended and rig.room not in rig.engine.active:
            if rig.media.holding:
                FIGURES.leaks_found += 1
            assert rig.media.holding == set(), "the caller is on hold after the end"

    @invariant()
    def no_canary_in_any_output(self) -> None:
        rig = self.rig
        if rig is None:
            return
        hits = canary_hits([rig.tap.entries, rig.tap.records, [str(e) for e in rig.errors]])
        FIGURES.pii_leaks += len(hits)
        assert hits == []

    # -- the end -----------------------------------------------------------------------

    def teardown(self) -> None:
        if not self.rejected:  # an example that ran (failing ones included)
            FIGURES.hypothesis_examples += 1
        try:
            if self.rig is not None:
                self.run(self._finish(self.rig))
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    async def _finish(self, rig: Rig) -> None:
        failed: BaseException | None = None
        try:
            await rig.finish()  # every transfer ends by itself: no rule is needed for that
            rig.verify()
        except BaseException as error:
            failed = error
        await rig.__aexit__(type(failed) if failed else None, failed, None)
        if failed is not None:
            raise failed


def test_random_interleavings() -> None:
    run_state_machine_as_test(
        TransferMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=12,
            deadline=None,
            derandomize=not RANDOM,  # the same examples every run, unless asked for new ones
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
