"""Who is on the call: departures, hang-ups and reconnects of the caller and the supervisor,
counted only once they last and the server confirms them."""

from __future__ import annotations

import asyncio

from orchestrator.engine.presence import DEPARTURE_GRACE_S, REJOIN_WINDOW_S, rejoined
from orchestrator.livekit import Participant
from orchestrator.sandbox import Event
from orchestrator.simulate import drive
from tests.engine.conftest import CALLER_IDENTITY as CALLER, flow, live, run


# Found by the random-scenario fuzzer (was tests/engine/test_fuzz_regressions.py).
async def test_caller_gone_before_the_transfer_saw_them_leave() -> None:
    result, _ = await run("warm_transfer", {"caller": {"hangup_after": 0.0}})
    assert result.outcome.kind == "caller_hung_up"


# Found by the random-scenario fuzzer (was tests/engine/test_fuzz_regressions.py).
async def test_supervisor_hanging_up_at_the_answer_is_supervisor_left() -> None:
    scenario = {"phones": {"default": {"answer": 0.0, "on_brief": "hangup", "decide_after": 0.0}}}
    result, _ = await run("warm_transfer", scenario)
    assert (result.outcome.kind, result.outcome.reason) == ("returned", "supervisor_left")
    assert result.outcome.hold_seconds < 1 + DEPARTURE_GRACE_S  # a departure must last


# Seen on the real stack (was tests/engine/test_real_stack_findings.py).
async def test_a_supervisor_reconnecting_at_the_answer_is_not_a_hang_up() -> None:
    """`test_supervisor_hangs_up_during_the_brief[real]`, once in CI: at the answer the
    server closed the supervisor's participant (`NEGOTIATE_FAILED`: our UpdateSubscriptions
    and the bridge's own collided) and the bridge joined again 15 ms later. The engine took
    the departure for a hang-up and hung up a supervisor who had just answered. Now a
    departure counts once it lasted and the server no longer lists the participant, and the
    leg that joined again is cut off again, both ways (its bridge subscribed to everything)."""
    scenario = {"phones": {"default": {"answer": 2.0, "decide_after": 4.0}}}
    async with live(scenario, flavor="oss") as (sandbox, engine, _):
        clock = sandbox.manual_clock
        transfer = await engine.start(flow("warm_transfer"), room="call-1")
        during_brief: list[tuple[str, bool, bool]] = []

        async def look(supervisor: str) -> None:
            await clock.sleep(DEPARTURE_GRACE_S + 1.0)
            during_brief.append(
                (
                    transfer.state,
                    sandbox.hears("call-1", CALLER, supervisor),
                    sandbox.hears("call-1", supervisor, CALLER),
                )
            )

        looking: list[asyncio.Task[None]] = []

        def on_transition(_: str, to_state: str, __: str) -> None:
            if to_state == "brief_supervisor" and transfer.supervisor and not looking:
                sandbox.reconnect("call-1", transfer.supervisor)
                looking.append(asyncio.ensure_future(look(transfer.supervisor)))

        transfer.add_listener(on_transition)
        await drive(sandbox, engine, transfer.outcome)
        outcome = await transfer.outcome
        assert (outcome.kind, len(outcome.attempts)) == ("merged", 1)
        assert during_brief == [("brief_supervisor", False, False)]
        (leg,) = [log for log in sandbox.phone_logs if log.direction == "outbound"]
        assert leg.received == ["INVITE", "ACK"]  # never hung up: still on the call


# Seen on the real stack (was tests/engine/test_real_stack_findings.py).
async def test_a_caller_reconnecting_on_hold_keeps_the_transfer_and_its_checkpoint() -> None:
    """The same reconnect on the caller's side: it used to end the transfer as
    `caller_hung_up` (a live caller's call then treated as over). The checkpoint the API
    wrote on the caller does not survive a rejoin: it is written again."""
    scenario = {"phones": {"default": {"answer": 3.0, "decide_after": 1.0}}}
    async with live(scenario, flavor="oss") as (sandbox, engine, _):
        clock = sandbox.manual_clock
        transfer = await engine.start(flow("warm_transfer"), room="call-1")
        seen: list[tuple[str, str]] = []

        async def look() -> None:
            await clock.sleep(DEPARTURE_GRACE_S + 0.5)
            member = sandbox.world.member("call-1", CALLER)
            assert member is not None
            seen.append((transfer.state, member.info.attributes.get("transfer.state", "")))

        looking: list[asyncio.Task[None]] = []

        def on_transition(_: str, to_state: str, __: str) -> None:
            if to_state == "dial_supervisor" and not looking:
                sandbox.reconnect("call-1", CALLER)
                looking.append(asyncio.ensure_future(look()))

        transfer.add_listener(on_transition)
        await drive(sandbox, engine, transfer.outcome)
        assert seen == [("dial_supervisor", "held")]
        assert (await transfer.outcome).kind == "merged"


# Seen on the real stack (was tests/engine/test_real_stack_findings.py).
async def test_a_departure_the_server_does_not_confirm_rings_no_one_else() -> None:
    """A `participant_disconnected` for a ringing leg that the server still lists (a stale
    or replayed event) used to ring the next phone of a chain while the first still rang."""
    scenario = {"phones": {"default": {"answer": 3.0, "on_brief": "accept"}}}
    async with live(scenario, flavor="oss") as (sandbox, engine, _):
        transfer = await engine.start(flow("supervisor_chain"), room="call-1")
        stale: list[str] = []

        def on_event(event: Event) -> None:
            who = event.participant.identity if event.participant else ""
            if event.kind == "participant_joined" and who.startswith("supervisor-"):
                stale.append(who)
                loop.call_soon(transfer.participant_left, "call-1", who)

        loop = asyncio.get_running_loop()
        sandbox.subscribe(on_event)
        await drive(sandbox, engine, transfer.outcome)
        assert len(stale) == 1
        assert (await transfer.outcome).kind == "merged"
        assert len([log for log in sandbox.phone_logs if log.direction == "outbound"]) == 1


def _sip(identity: str, joined_at: float) -> Participant:
    return Participant(identity, "sip", joined_at=joined_at)


def test_a_start_waits_out_a_callers_fresh_rejoin_only() -> None:
    """Until `REJOIN_WINDOW_S` after a rejoin (the caller joined after the agent); not for a
    fresh call (the caller joined first), a rejoin long ago, or a server that does not say;
    never longer than the window (a server clock ahead)."""
    agent = Participant("agent", "agent", joined_at=1000.0)
    caller = _sip("caller", 1010.0)
    assert rejoined(caller, [caller, agent], now=1011.5) == REJOIN_WINDOW_S - 1.5
    assert rejoined(caller, [caller, agent], now=1010.0 + REJOIN_WINDOW_S) == 0.0
    fresh = _sip("caller", 999.0)
    assert rejoined(fresh, [fresh, agent], now=999.5) == 0.0
    unknown = _sip("caller", 0.0)
    assert rejoined(unknown, [unknown, agent], now=5.0) == 0.0
    assert rejoined(caller, [caller, agent], now=900.0) == REJOIN_WINDOW_S
