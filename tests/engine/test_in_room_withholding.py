"""`in_room`: a ringing leg's permission to subscribe, withheld until its answer's cut
(`orchestrator.engine.in_room`), through the sandbox's API: what reaches LiveKit and who
hears whom when the withholding is late, is refused, meets a reconnect or a cleanup."""

from __future__ import annotations

import asyncio
from typing import Any

from structlog.testing import capture_logs

from orchestrator.engine import Transfer
from orchestrator.sandbox import Event, Sandbox
from orchestrator.simulate import drive
from tests.engine.conftest import flow, live, run
from tests.engine.test_self_hosted import Ears, rpcs, with_strategy

ANSWER = {"phones": {"default": {"answer": 2.0, "decide_after": 3.0}}}


def given(requests: list[dict[str, Any]]) -> list[bool]:
    """`can_subscribe` of every permission the engine wrote, in order."""
    return [
        bool(r["permission"].get("can_subscribe", False))
        for r in rpcs(requests, "RoomService.UpdateParticipant")
        if "permission" in r
    ]


def after_the_cut(sandbox: Sandbox, transfer: Transfer, then: Any) -> None:
    """Call `then()` once, when the answer's cut of the supervisor has reached the sandbox
    (the supervisor unsubscribed from some track after its bridge subscribed to all)."""

    def seen(event: Event) -> None:
        leg = transfer.supervisor
        if event.kind != "subscriptions_changed" or leg is None or event.participant is None:
            return
        member = sandbox.world.member("call-1", leg)
        cut = member is not None and member.unsubscribed and "*" not in member.unsubscribed
        if event.participant.identity == leg and cut:
            stop()
            then()

    stop = sandbox.subscribe(seen)


async def start(sandbox: Sandbox, engine: Any) -> Transfer:
    starting = asyncio.ensure_future(
        engine.start(with_strategy("warm_transfer", "in_room"), room="call-1")
    )
    await drive(sandbox, engine, starting)  # (faults may make its reads late)
    transfer: Transfer = starting.result()
    return transfer


async def test_a_withholding_not_sent_by_the_answer_is_not_sent_nor_waited_for() -> None:
    """Every GetParticipant answers 3 s late: the phone answers (2 s after the dial) while
    the withholding still reads the leg. The brief starts at the answer, not when that read
    ends, and the withholding is never sent (it would land after the answer's cut). The cut
    at the answer keeps the two apart from the answer's instant on (one round trip, no
    simulated time), as before the withholding existed."""
    late = [{"rpc": "RoomService.GetParticipant", "delay": 3.0, "times": 10}]
    async with live({**ANSWER, "faults": late}) as (sandbox, engine, _):
        ears = Ears(sandbox)
        sandbox.subscribe(ears)
        transfer = await start(sandbox, engine)
        briefed: list[float] = []

        def on_transition(_: str, to: str, __: str) -> None:
            if to == "brief_supervisor":
                briefed.append(sandbox.clock.now())
            ears.accepted = ears.accepted or to == "merge_call"

        transfer.add_listener(on_transition)
        await drive(sandbox, engine, transfer.outcome)
        assert (await transfer.outcome).kind == "merged"
        assert briefed == [ears.answered_at]
        assert given(sandbox.requests) == []
        assert ears.caller_heard_supervisor == []
        assert ears.supervisor_heard != []  # the window exists, and is measured
        assert {at for at, _ in ears.supervisor_heard} == {ears.answered_at}


async def test_a_wrong_not_found_at_the_give_back_is_asked_again() -> None:
    """LiveKit answers `not_found` for the leg once, just after the answer's cut (a stale
    view of the room): the permission is asked for again and given back before the brief."""
    async with live(ANSWER) as (sandbox, engine, _):
        transfer = await start(sandbox, engine)
        after_the_cut(
            sandbox,
            transfer,
            lambda: sandbox.add_fault("RoomService.GetParticipant", "not_found"),
        )
        could: list[bool] = []

        def on_brief(_: str, to: str, __: str) -> None:
            member = sandbox.world.member("call-1", transfer.supervisor or "")
            if to == "brief_supervisor" and member is not None:
                could.append(member.info.permission.can_subscribe)

        transfer.add_listener(on_brief)
        await drive(sandbox, engine, transfer.outcome)
        assert (await transfer.outcome).kind == "merged"
        assert could == [True]
        assert given(sandbox.requests) == [False, True]


async def test_a_give_back_that_fails_is_logged_and_done_at_the_merge() -> None:
    """Both asks of the give-back fail: the attempt goes on (a person answered), the failure
    is logged, and the merge gives the permission back."""
    async with live(ANSWER) as (sandbox, engine, _):
        transfer = await start(sandbox, engine)
        after_the_cut(
            sandbox,
            transfer,
            lambda: sandbox.add_fault("RoomService.GetParticipant", "unavailable", times=2),
        )
        with capture_logs() as logs:
            await drive(sandbox, engine, transfer.outcome)
        assert (await transfer.outcome).kind == "merged"
        assert [e["error"] for e in logs if e["event"] == "transfer.isolate_failed"] == [
            "LiveKitError"
        ]
        assert given(sandbox.requests) == [False, True]
        member = sandbox.world.member("call-1", transfer.supervisor or "")
        assert member is not None
        assert member.info.permission.can_subscribe


async def test_a_leg_reconnecting_while_it_rings_is_withheld_again() -> None:
    """The server closes the withheld leg while it rings and the bridge joins again (with
    its token's grants): the engine withholds the new participant's permission too, so the
    supervisor still hears nothing of the caller's side at the answer."""
    async with live({"phones": {"default": {"answer": 4.0, "decide_after": 3.0}}}) as rig:
        sandbox, engine, _ = rig
        ears = Ears(sandbox)
        sandbox.subscribe(ears)
        transfer = await start(sandbox, engine)
        reconnected: list[str] = []

        def withheld(event: Event) -> None:
            leg = event.participant
            if (
                event.kind == "subscriptions_changed"
                and leg is not None
                and leg.identity == transfer.supervisor
                and not leg.permission.can_subscribe
                and not reconnected
            ):
                reconnected.append(leg.identity)
                asyncio.get_running_loop().call_soon(sandbox.reconnect, "call-1", leg.identity)

        sandbox.subscribe(withheld)
        transfer.add_listener(
            lambda _, to, __: setattr(ears, "accepted", ears.accepted or to == "merge_call")
        )
        await drive(sandbox, engine, transfer.outcome)
        assert (await transfer.outcome).kind == "merged"
        assert reconnected == [transfer.supervisor]
        assert ears.supervisor_heard == []
        assert given(sandbox.requests) == [False, False, True]


async def test_legs_joining_once_cleanup_has_begun_are_not_withheld() -> None:
    """The caller hangs up while the ring group's dials are still on their way: the legs
    join after cleanup began, and nothing is started for them that cleanup would not stop."""
    scenario = {
        "caller": {"hangup_after": 4.0},
        "phones": {"default": {"answer": 10}},
        "faults": [{"rpc": "SIP.CreateSIPParticipant", "delay": 3.0, "times": 2}],
    }
    ring_group = flow("ring_group").model_copy(update={"merge_strategy": "in_room"})
    result, _ = await run(ring_group, scenario, flavor="oss")
    assert result.outcome.kind == "caller_hung_up"
    assert given(result.requests) == []
