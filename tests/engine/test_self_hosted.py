"""Self-hosted LiveKit (no MoveParticipant): the preflight probe and the `in_room` merge.

The audio checks use the sandbox's subscriptions: who is subscribed to whose tracks, at every
room event. A SIP leg carries audio only once its `sip.callStatus` is `active`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from orchestrator import FlowError, TransferError, load_flow
from orchestrator.flow.model import Flow
from orchestrator.livekit.probe import PROBE
from orchestrator.sandbox import Event, Sandbox
from orchestrator.simulate import drive
from tests.engine.conftest import CALLER_IDENTITY as CALLER, ROOT, flow, live, run

SCENARIO_FAST = {"phones": {"default": {"answer": 1.0, "decide_after": 0.5}}}


def with_strategy(name: str, strategy: str) -> Flow:
    return flow(name).model_copy(update={"merge_strategy": strategy})


def rpcs(requests: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [r["request"] for r in requests if r["rpc"] == name]


class Ears:
    """Records, at every room event before the supervisor accepts, who could hear whom.

    LiveKit's SIP bridge publishes the supervisor's track while the phone rings, and the
    caller's bridge subscribes to it then; the engine cuts that subscription as soon as it
    sees the track. The phone sends audio into the room once `active` (a dial tone before, at
    most, with `play_dialtone`); it hears the room only once `active` too.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.accepted = False
        self.supervisor_heard: list[tuple[float, str]] = []
        self.caller_heard_supervisor: list[tuple[float, str]] = []
        self.answered_at: float | None = None

    def __call__(self, event: Event) -> None:
        room = self.sandbox.room("call-1")
        if self.accepted or room is None:
            return
        for identity, member in room.members.items():
            status = member.info.attributes.get("sip.callStatus")
            if not identity.startswith("supervisor-") or status != "active":
                continue
            if self.sandbox.hears("call-1", CALLER, identity):
                self.caller_heard_supervisor.append((event.at, event.kind))
            if self.answered_at is None:
                self.answered_at = event.at
            for speaker in (CALLER, "agent"):  # the caller, and the hold audio
                if self.sandbox.hears("call-1", identity, speaker):
                    self.supervisor_heard.append((event.at, speaker))


async def test_flavor_oss_merges_in_the_callers_room() -> None:
    result, logs = await run("warm_transfer", flavor="oss")
    assert (result.outcome.kind, result.outcome.reason) == ("merged", None)
    moves = rpcs(result.requests, "RoomService.MoveParticipant")
    assert [m["identity"] for m in moves] == [PROBE]  # asked, never used
    (dial,) = result.dials()
    assert dial["room_name"] == "call-1"
    assert not rpcs(result.requests, "RoomService.CreateRoom")  # no consult room at all
    assert any(e["event"] == "transfer.merge_strategy" for e in logs)
    assert [c.action for c in result.media.calls][-2:] == ["stop_hold", "agent_leave"]


async def test_in_room_keeps_the_audio_apart_until_the_supervisor_accepts() -> None:
    async with live({"phones": {"default": {"answer": 2.0, "decide_after": 3.0}}}) as rig:
        sandbox, engine, _ = rig
        ears = Ears(sandbox)
        sandbox.subscribe(ears)
        transfer = await engine.start(with_strategy("warm_transfer", "in_room"), room="call-1")
        seen: list[tuple[str, bool, bool]] = []

        def on_transition(_: str, to_state: str, __: str) -> None:
            supervisor = transfer.supervisor or ""
            seen.append(
                (
                    to_state,
                    sandbox.hears("call-1", supervisor, CALLER),
                    sandbox.hears("call-1", CALLER, supervisor),
                )
            )
            ears.accepted = ears.accepted or to_state == "merge_call"

        transfer.add_listener(on_transition)
        await drive(sandbox, engine, transfer.outcome)
        assert (await transfer.outcome).kind == "merged"
        # Entering the brief, neither hears the other; once merged, both do.
        assert ("brief_supervisor", False, False) in seen
        assert ("agent_leaves", True, True) in seen
        # The caller never heard the supervisor's phone (cut off when its track was published,
        # while it rang).
        assert ears.caller_heard_supervisor == []
        # Nor did the supervisor hear the caller's side, even at the answer: the leg could
        # not subscribe while it rang, so what its bridge asked for at the answer waited
        # until the engine had cut it (before the withholding, the window was the answer's
        # instant: tests/engine/test_in_room_withholding.py).
        assert ears.answered_at == 2.0
        assert ears.supervisor_heard == []
        given = [
            r["permission"].get("can_subscribe", False)
            for r in rpcs(sandbox.requests, "RoomService.UpdateParticipant")
            if "permission" in r
        ]
        assert given == [False, True]  # withheld while ringing, given back at the answer
        moves = rpcs(sandbox.requests, "RoomService.MoveParticipant")
        assert [m["identity"] for m in moves] == [PROBE]  # in_room: nobody moved


@pytest.mark.parametrize(
    ("phone", "reason"),
    [
        ({"answer": "busy"}, "busy"),
        ({"answer": "decline"}, "declined"),  # 603: a decline, never redialled
        ({"answer": "no_answer"}, "no_answer"),
        ({"answer": 1.0, "on_brief": "decline"}, "declined"),
        ({"answer": 1.0, "on_brief": "hangup"}, "supervisor_left"),
        ({"answer": 1.0, "on_brief": "silent"}, "timeout"),
        ({"answer": "voicemail"}, "voicemail"),
    ],
)
async def test_in_room_failures_take_the_supervisor_out_of_the_callers_room(
    phone: dict[str, Any], reason: str
) -> None:
    # run() checks that no supervisor leg is left and the caller is off hold.
    result, _ = await run("warm_transfer", {"phones": {"default": phone}}, flavor="oss")
    assert (result.outcome.kind, result.outcome.reason) == ("returned", reason)


async def test_in_room_caller_hangs_up_during_the_brief() -> None:
    # The probe takes 3 s on the open-source server; the brief starts at about 4.2 s.
    scenario = {"caller": {"hangup_after": 6.0}, "phones": {"default": {"decide_after": 5.0}}}
    result, _ = await run("warm_transfer", scenario, flavor="oss")
    assert result.outcome.kind == "caller_hung_up"
    notices = [c for c in result.media.calls if c.action == "brief"]
    assert notices[-1].room == "call-1"  # the notice goes where the supervisor is
    assert "hung up" in notices[-1].text


@pytest.mark.parametrize(("times", "kind"), [(1, "merged"), (6, "returned")])
async def test_in_room_merge_retries_once(times: int, kind: str) -> None:
    # Three UpdateSubscriptions isolate: the caller when the supervisor's track is published,
    # then at the answer the caller again and the supervisor.
    faults = [
        {"rpc": "RoomService.UpdateSubscriptions", "delay": 0.0, "times": 3},
        {"rpc": "RoomService.UpdateSubscriptions", "code": "unavailable", "times": times},
    ]
    result, _ = await run("warm_transfer", {"faults": faults}, flavor="oss")
    assert result.outcome.kind == kind
    if kind == "returned":
        assert result.outcome.reason == "move_failed"


async def test_in_room_isolation_failing_ends_that_leg() -> None:
    faults = [{"rpc": "RoomService.UpdateSubscriptions", "code": "internal", "times": 10}]
    result, _ = await run("warm_transfer", {"faults": faults}, flavor="oss")
    assert (result.outcome.kind, result.outcome.reason) == ("returned", "failed")


async def test_strategy_move_on_a_self_hosted_server_is_refused_before_the_hold() -> None:
    async with live(flavor="oss") as (sandbox, engine, media):
        with pytest.raises(TransferError) as caught:
            await engine.start(with_strategy("warm_transfer", "move"), room="call-1")
        assert caught.value.reason == "move_unavailable"
        assert "merge_strategy: in_room" in str(caught.value)
        assert media.calls == []  # the caller never heard hold audio
        assert not rpcs(sandbox.requests, "RoomService.UpdateParticipant")
        assert engine.active == {}


async def test_the_probe_runs_once_per_engine() -> None:
    async with live(SCENARIO_FAST) as rig:
        sandbox, engine, _ = rig
        for _ in range(2):
            transfer = await engine.start(flow("warm_transfer"), room="call-1")
            await drive(sandbox, engine, transfer.outcome)
            outcome = await transfer.outcome
            assert outcome.kind == "merged"
            # The supervisor hangs up: the call ends for the caller too (the room goes).
            sandbox.hang_up("call-1", outcome.attempts[-1].identity)
            await drive(sandbox, engine, engine.calls["call-1"].ended)
            sandbox.place_caller("call-1")  # the next call, in a room of the same name
            sandbox.add_agent("call-1")
        probes = rpcs(sandbox.requests, "RoomService.MoveParticipant")
        assert [p["identity"] for p in probes].count(PROBE) == 1


DENIED = {"code": "unauthenticated", "message": "permissions denied", "probe": True}


@pytest.mark.parametrize(
    ("rpc", "code", "reason", "grant"),
    [
        ("RoomService.MoveParticipant", "unavailable", "unavailable", ""),
        ("SIP.CreateSIPParticipant", "unauthenticated", "permission", "sip.call"),
        ("RoomService.DeleteRoom", "unauthenticated", "permission", "roomCreate"),
    ],
)
async def test_a_failing_probe_refuses_before_the_hold(
    rpc: str, code: str, reason: str, grant: str
) -> None:
    faults = [{**DENIED, "rpc": rpc, "code": code}]
    async with live({"faults": faults}) as (sandbox, engine, media):
        with pytest.raises(TransferError) as caught:
            await engine.start(flow("warm_transfer"), room="call-1")
        assert caught.value.reason == reason
        assert caught.value.retryable == (code == "unavailable")
        assert grant in str(caught.value)
        assert media.calls == []
        assert not rpcs(sandbox.requests, "RoomService.UpdateParticipant")  # no hold checkpoint


async def test_without_room_create_in_room_still_works() -> None:
    faults = [{**DENIED, "rpc": "RoomService.DeleteRoom"}]
    async with live({"faults": faults, **SCENARIO_FAST}) as (sandbox, engine, _):
        transfer = await engine.start(with_strategy("warm_transfer", "in_room"), room="call-1")
        await drive(sandbox, engine, transfer.outcome)
        assert (await transfer.outcome).kind == "merged"


async def test_a_key_that_may_not_move_falls_back_to_in_room() -> None:
    faults = [{**DENIED, "rpc": "RoomService.MoveParticipant"}]
    async with live({"faults": faults, **SCENARIO_FAST}) as (sandbox, engine, _):
        transfer = await engine.start(flow("warm_transfer"), room="call-1")
        assert transfer.strategy == "in_room"
        await drive(sandbox, engine, transfer.outcome)
        assert (await transfer.outcome).kind == "merged"


async def test_cold_transfer_flows_move_nobody() -> None:
    result, _ = await run("cold_transfer", flavor="oss")
    assert result.outcome.kind == "cold_transferred"
    moves = rpcs(result.requests, "RoomService.MoveParticipant")
    assert [m["identity"] for m in moves] == [PROBE]


def test_a_wrong_strategy_is_named_with_its_line(tmp_path: Path) -> None:
    text = (ROOT / "flows" / "warm_transfer.yaml").read_text()
    path = tmp_path / "bad.yaml"
    path.write_text(
        text.replace(
            "fallback: return_to_agent", "merge_strategy: sideways\nfallback: return_to_agent"
        )
    )
    with pytest.raises(FlowError) as caught:
        load_flow(path)
    (problem,) = caught.value.problems
    assert "merge_strategy" in problem.render(caught.value.source)
    assert "in_room" in problem.render(caught.value.source)


async def test_transfers_starting_together_share_one_probe() -> None:
    async with live(SCENARIO_FAST) as (sandbox, engine, _):
        sandbox.place_caller("call-2")
        transfers = await asyncio.gather(
            engine.start(flow("warm_transfer"), room="call-1"),
            engine.start(flow("warm_transfer"), room="call-2"),
        )
        for transfer in transfers:
            await drive(sandbox, engine, transfer.outcome)
            assert (await transfer.outcome).kind == "merged"
        probes = rpcs(sandbox.requests, "RoomService.MoveParticipant")
        assert [p["identity"] for p in probes].count(PROBE) == 1


async def test_a_late_track_event_cuts_nobody_off_once_the_merge_began() -> None:
    """A `track_published` of the supervisor arriving as the merge begins (a track published
    again, an event late) must not unsubscribe the caller after the paths were opened."""
    async with live(SCENARIO_FAST, flavor="oss") as (sandbox, engine, _):
        transfer = await engine.start(with_strategy("warm_transfer", "in_room"), room="call-1")
        late: list[str] = []

        def on_transition(_: str, to_state: str, __: str) -> None:
            if to_state == "merge_call" and transfer.supervisor:
                late.append(transfer.supervisor)
                # The cut this starts is slow: its listing answers after the opening, while
                # the merge step still writes its checkpoint.
                sandbox.add_fault("RoomService.ListParticipants", None, delay=1.0)  # type: ignore[arg-type]
                sandbox.add_fault("RoomService.UpdateParticipant", None, delay=2.0)  # type: ignore[arg-type]
                transfer.track_published("call-1", transfer.supervisor, "TR_republished")

        transfer.add_listener(on_transition)
        await drive(sandbox, engine, transfer.outcome)
        assert (await transfer.outcome).kind == "merged"
        (supervisor,) = late
        assert sandbox.hears("call-1", CALLER, supervisor)
        callers = [
            bool(r["request"].get("subscribe"))
            for r in sandbox.requests
            if r["rpc"] == "RoomService.UpdateSubscriptions"
            and r["request"].get("identity") == CALLER
        ]
        assert False not in callers[callers.index(True) :], "a cut landed after the opening"


# Seen on the real stack (was tests/engine/test_real_stack_findings.py).
async def test_an_unclaimed_move_probe_means_no_move_participant() -> None:
    """`test_probe_move_nobody`: the open-source server answers a move naming nobody
    `unavailable` ("no response from servers") after about 3 s, not "not implemented"; it
    used to make every transfer on self-hosted LiveKit fail before the hold."""
    async with live(flavor="oss") as (sandbox, engine, _):
        capabilities = await engine.capabilities()  # answered by `live` already: cached
        assert capabilities.move is False
        assert capabilities.missing == frozenset()
        transfer = await engine.start(flow("warm_transfer"), room="call-1")
        await drive(sandbox, engine, transfer.outcome)
        assert (await transfer.outcome).kind == "merged"


# Seen on the real stack (was tests/engine/test_real_stack_findings.py).
async def test_the_three_probes_are_sent_together() -> None:
    async with live(flavor="oss") as (sandbox, _, _):
        probes = [r for r in sandbox.requests if r["rpc"] != "RoomService.ListParticipants"]
        assert len(probes) == 3
        # Each was sent before any was answered (one by one, the move's 3 s come first).
        sent = [r["time"] for r in probes]
        answered = [r["time"] + r["duration_ms"] / 1000 for r in probes]
        assert max(sent) < min(answered)
