"""Ring groups: several phones rung at once, the first answer kept, every other leg ended.

Each test follows every phone to its last SIP message (what the sandbox's phones received)
and `run` checks the invariants after it (no leg or room left, one outcome, no number logged).
"""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator import load_flow
from orchestrator.engine import Transfer
from orchestrator.livekit.names import CALL_STATUS
from orchestrator.sandbox import PhoneLog, Sandbox
from orchestrator.sandbox.core import Flavor
from orchestrator.simulate import drive
from orchestrator.testing import RecordingMedia
from tests.engine.conftest import CALLER, CALLER_IDENTITY, ROOT, flow, live, run

ALICE, BOB, LEAD = "+15105550100", "+15105550101", "+15105550102"


def ring_group(*replace: tuple[str, str]) -> Any:
    text = (ROOT / "flows" / "ring_group.yaml").read_text()
    for old, new in replace:
        assert old in text, old
        text = text.replace(old, new)
    return load_flow(text)


async def _phones(
    scenario: dict[str, Any], flavor: Flavor = "cloud"
) -> tuple[Any, list[PhoneLog]]:
    """Run the shipped ring group flow; the outcome and every supervisor phone's log. A
    merged transfer briefed exactly one supervisor: the one kept."""
    async with live(scenario, flavor=flavor) as (sandbox, engine, media):
        transfer = await engine.start(flow("ring_group"), room="call-1")
        await drive(sandbox, engine, transfer.outcome)
        outcome = await transfer.outcome
        logs = [log for log in sandbox.phone_logs if log.direction == "outbound"]
        briefed = [call.to for call in media.calls if call.action == "brief"]
        if outcome.kind == "merged":
            kept = [a.identity for a in outcome.attempts if a.result == "answered"]
            assert briefed == kept[-1:]
        assert sandbox.world.rooms.keys() == {"call-1"}  # the consult room is gone
        return outcome, logs


async def test_the_first_to_answer_is_kept_and_the_other_phone_gets_cancel() -> None:
    outcome, logs = await _phones({"phones": {ALICE: {"answer": 5}, BOB: {"answer": 2}}})
    assert outcome.kind == "merged"
    results = {a.target: (a.result, a.group) for a in outcome.attempts}
    assert results == {
        "alice": ("another_answered", "dial_supervisors/1"),
        "bob": ("answered", "dial_supervisors/1"),
    }
    by_number = {log.number: log for log in logs}
    assert by_number[ALICE].received == ["INVITE", "CANCEL"]
    assert by_number[ALICE].ended_at == 2.0  # cancelled in the instant Bob answered
    assert by_number[BOB].received == ["INVITE", "ACK"]  # still talking with the caller
    assert {log.from_number for log in logs} == {CALLER}  # each INVITE shows the caller


async def test_two_answers_in_the_same_instant_keep_one_and_end_the_other() -> None:
    outcome, logs = await _phones({"phones": {"default": {"answer": 2}}})
    assert outcome.kind == "merged"
    assert sorted(a.result for a in outcome.attempts) == ["another_answered", "answered"]
    kept = next(a for a in outcome.attempts if a.result == "answered")
    assert kept.target == "alice"  # listed first: the tie goes to the order of `to`
    other = next(log for log in logs if log.number == BOB)
    assert other.over
    assert other.received[-1] in ("CANCEL", "BYE")
    assert other.ended_at == 2.0


async def test_a_cancel_racing_an_answer_ends_that_leg_with_bye() -> None:
    # The CANCEL is slow to reach Bob's leg (RemoveParticipant delayed): Bob answers first.
    outcome, logs = await _phones(
        {
            "phones": {"default": {"answer": 2}},
            "faults": [{"rpc": "RoomService.RemoveParticipant", "delay": 0.5, "times": 1}],
        }
    )
    assert outcome.kind == "merged"
    bob = next(log for log in logs if log.number == BOB)
    assert bob.received == ["INVITE", "ACK", "BYE"]
    assert bob.ended_at == 2.5
    assert [a.result for a in outcome.attempts] == ["answered", "another_answered"]


async def test_the_caller_hanging_up_while_the_group_rings_cancels_every_phone() -> None:
    outcome, logs = await _phones(
        {"caller": {"hangup_after": 6}, "phones": {"default": {"answer": "no_answer"}}}
    )
    assert outcome.kind == "caller_hung_up"
    assert len(logs) == 2
    assert all(log.received == ["INVITE", "CANCEL"] for log in logs)
    assert all(log.ended_at is not None and log.ended_at < 8 for log in logs)


async def test_an_answer_racing_the_callers_hang_up_leaves_no_leg() -> None:
    # The hold starts at once; Alice answers in the very instant the caller hangs up.
    for hangup in (1.9, 2.0, 2.1):
        outcome, logs = await _phones(
            {
                "caller": {"hangup_after": hangup},
                "phones": {ALICE: {"answer": 2}, BOB: {"answer": "no_answer"}},
            }
        )
        assert outcome.kind == "caller_hung_up"
        assert all(log.over and log.received[-1] in ("CANCEL", "BYE") for log in logs)


async def test_each_phone_of_the_group_gets_its_own_business_number_retry() -> None:
    outcome, logs = await _phones(
        {
            "trunk": {"numbers": ["+18005550100"], "caller_id_policy": "owned_only"},
            "phones": {ALICE: {"answer": "no_answer"}, BOB: {"answer": 2}},
        }
    )
    assert outcome.kind == "merged"
    assert [(a.target, a.caller_id, a.result) for a in outcome.attempts] == [
        ("alice", "caller", "caller_id_rejected"),
        ("bob", "caller", "caller_id_rejected"),
        ("alice", "business", "another_answered"),
        ("bob", "business", "answered"),
    ]
    assert [log.from_number for log in logs] == [CALLER, CALLER, "+18005550100", "+18005550100"]


async def test_a_group_that_fails_goes_on_with_the_chain() -> None:
    result, logs = await run(
        "ring_group",
        {"phones": {ALICE: {"answer": "busy"}, BOB: {"answer": "decline"}, LEAD: {"answer": 3}}},
    )
    outcome = result.outcome
    assert outcome.kind == "merged"
    assert [(a.target, a.result, a.group) for a in outcome.attempts] == [
        ("alice", "busy", "dial_supervisors/1"),
        ("bob", "declined", "dial_supervisors/1"),
        ("team_lead", "answered", None),
    ]
    group = [e for e in logs if e["event"] == "dial.group"]
    assert [(e["targets"], e["ring_seconds"]) for e in group] == [(["alice", "bob"], 20.0)]


async def test_a_whole_group_failing_reports_the_last_result() -> None:
    result, _ = await run(
        ring_group(("      - team_lead                 # then the team lead, alone\n", "")),
        {"phones": {ALICE: {"answer": "busy"}, BOB: {"answer": "no_answer"}}},
    )
    assert (result.outcome.kind, result.outcome.reason) == ("returned", "no_answer")


async def test_a_voicemail_in_the_group_is_screened_out_and_the_group_rings_on() -> None:
    result, _ = await run(
        "ring_group", {"phones": {ALICE: {"answer": "voicemail"}, BOB: {"answer": 6}}}
    )
    assert result.outcome.kind == "merged"
    assert [(a.target, a.result) for a in result.outcome.attempts] == [
        ("alice", "voicemail"),
        ("bob", "answered"),
    ]


async def test_ring_simultaneous_rings_the_whole_list_at_once() -> None:
    flow_ = ring_group(
        (
            "      - group: [alice, bob]       # rung together; the first to answer is kept\n"
            "        ring_timeout: 20\n"
            "      - team_lead                 # then the team lead, alone\n",
            "      - alice\n      - bob\n      - team_lead\n    ring: simultaneous\n",
        )
    )
    result, _ = await run(
        flow_, {"phones": {"default": {"answer": "no_answer"}, LEAD: {"answer": 3}}}
    )
    assert result.outcome.kind == "merged"
    assert {a.group for a in result.outcome.attempts} == {"dial_supervisors/1"}
    assert [a.target for a in result.outcome.attempts if a.result == "answered"] == ["team_lead"]
    assert result.outcome.time_to_supervisor_seconds is not None
    assert result.outcome.time_to_supervisor_seconds < 10  # all rang at once


async def test_a_ring_group_self_hosted_keeps_one_leg_in_the_callers_room() -> None:
    outcome, logs = await _phones(
        {"phones": {ALICE: {"answer": 4}, BOB: {"answer": 2}}}, flavor="oss"
    )
    assert outcome.kind == "merged"
    assert next(log for log in logs if log.number == ALICE).received == ["INVITE", "CANCEL"]


async def test_a_group_of_three_reaches_the_supervisor_a_chains_ring_times_sooner() -> None:
    """`make bench`'s comparison, on the simulated clock: the first two never answer, the
    third answers after 6 s; each rings 20 s. The chain waits out 40 s of ringing first."""
    from bench.ring_group import time_to_supervisor

    assert await time_to_supervisor() == {"group": 7.0, "chain": 47.0}


def _slow_screening(sandbox: Sandbox, media: RecordingMedia, seconds: float) -> None:
    """Answer screening takes `seconds` of the simulated clock (up to `screen_timeout`)."""
    screen = media.screen_answer

    async def slow(room: str, supervisor: str) -> Any:
        await sandbox.clock.sleep(seconds)
        return await screen(room, supervisor)

    media.screen_answer = slow  # type: ignore[method-assign]


Heard = tuple[float, str, str, bool, bool]
"""At an instant: a supervisor leg, the transfer's state, whether the leg hears the caller,
whether the caller hears the leg."""


def _every_instant(sandbox: Sandbox, transfer: Transfer) -> list[Heard]:
    """Who hears whom between the caller and each answered supervisor leg, as each instant
    of the simulated clock ends (when the clock moves on: all the work of that instant is
    done, and what is left lasts)."""
    samples: list[Heard] = []
    clock = sandbox.manual_clock
    advance = clock.advance

    async def sampling(seconds: float) -> None:
        room = sandbox.world.rooms.get("call-1")
        for identity, member in (room.members if room else {}).items():
            if member.info.attributes.get(CALL_STATUS) == "active" and identity.startswith(
                "supervisor-"
            ):
                samples.append(
                    (
                        clock.now(),
                        identity,
                        transfer.state,
                        sandbox.hears("call-1", identity, CALLER_IDENTITY),
                        sandbox.hears("call-1", CALLER_IDENTITY, identity),
                    )
                )
        await advance(seconds)

    clock.advance = sampling  # type: ignore[method-assign]
    return samples


def _overheard(samples: list[Heard], kept: str) -> list[Heard]:
    """The samples where a leg and the caller hear each other (either way) before they
    should: any leg but the one kept, and the kept one before the merge."""
    early = ("dial_supervisors", "brief_supervisor")
    return [s for s in samples if (s[3] or s[4]) and (s[1] != kept or s[2] in early)]


async def test_in_room_a_phone_answering_during_screening_is_cut_off_at_its_answer() -> None:
    """Alice answers first and is screened for 2 s (she presses 1 after it); Bob answers
    1 s into it. He and the caller do not hear each other until his BYE (they did, until
    the screening ended)."""
    scenario = {"phones": {ALICE: {"answer": 2, "decide_after": 3}, BOB: {"answer": 3}}}
    async with live(scenario, flavor="oss") as (sandbox, engine, media):
        _slow_screening(sandbox, media, 2.0)
        transfer = await engine.start(flow("ring_group"), room="call-1")
        samples = _every_instant(sandbox, transfer)
        await drive(sandbox, engine, transfer.outcome)
        outcome = await transfer.outcome
        await sandbox.manual_clock.advance(0)  # the last instant's state, sampled too
    assert outcome.kind == "merged"
    results = {a.target: a.result for a in outcome.attempts}
    assert results == {"alice": "answered", "bob": "another_answered"}
    kept, bob = (a.identity for a in outcome.attempts)
    assert any(s[1] == bob for s in samples)  # answered for at least one instant
    assert any(s[1] == kept and s[3] and s[4] for s in samples)  # the merge opened both ways
    assert _overheard(samples, kept) == []


@pytest.mark.parametrize("failures", [2, 6])
async def test_in_room_a_phone_losing_a_tie_is_cut_off_while_its_hang_up_is_retried(
    failures: int,
) -> None:
    """Both answer in the same instant; Bob's hang-up fails `failures` times (retried past
    the brief and the merge). Meanwhile he and the caller do not hear each other."""
    scenario = {
        "phones": {"default": {"answer": 2, "on_brief": "accept", "decide_after": 0.5}},
        "faults": [
            {"rpc": "RoomService.RemoveParticipant", "code": "unavailable", "times": failures}
        ],
    }
    async with live(scenario, flavor="oss") as (sandbox, engine, _):
        transfer = await engine.start(flow("ring_group"), room="call-1")
        samples = _every_instant(sandbox, transfer)
        await drive(sandbox, engine, transfer.outcome)
        outcome = await transfer.outcome
        logs = {log.number: log for log in sandbox.phone_logs if log.direction == "outbound"}
    assert outcome.kind == "merged"
    assert [(a.target, a.result) for a in outcome.attempts] == [
        ("alice", "answered"),
        ("bob", "another_answered"),
    ]
    kept, bob = (a.identity for a in outcome.attempts)
    assert any(s[1] == bob for s in samples)  # still in the room for at least one instant
    assert _overheard(samples, kept) == []
    assert logs[BOB].over
    assert logs[BOB].received[-1] == "BYE"


async def test_a_key_the_kept_supervisor_presses_during_screening_counts() -> None:
    """As for a single target: Alice presses 1 a second into her 2 s screening; the group's
    transfer merges with her (the key was dropped, and the brief timed out to the team
    lead)."""
    scenario = {"phones": {"default": {"answer": 2}, BOB: {"answer": "no_answer"}}}
    async with live(scenario) as (sandbox, engine, media):
        _slow_screening(sandbox, media, 2.0)
        transfer = await engine.start(flow("ring_group"), room="call-1")
        await drive(sandbox, engine, transfer.outcome)
        outcome = await transfer.outcome
    assert outcome.kind == "merged"
    assert [(a.target, a.result) for a in outcome.attempts] == [
        ("alice", "answered"),
        ("bob", "another_answered"),
    ]


async def test_a_key_a_losing_phone_presses_during_screening_does_not_count() -> None:
    """Both answer together; Alice (kept, screened for 2 s) stays silent, Bob presses 1
    during her screening: his key is not hers. Her brief times out and nobody is merged
    (the team lead does not answer)."""
    scenario = {
        "phones": {
            ALICE: {"answer": 2, "on_brief": "silent"},
            BOB: {"answer": 2, "on_brief": "accept", "decide_after": 0.5},
            LEAD: {"answer": "no_answer"},
        }
    }
    async with live(scenario) as (sandbox, engine, media):
        _slow_screening(sandbox, media, 2.0)
        transfer = await engine.start(flow("ring_group"), room="call-1")
        await drive(sandbox, engine, transfer.outcome)
        outcome = await transfer.outcome
    assert outcome.kind != "merged"
    assert [(a.target, a.result) for a in outcome.attempts][:2] == [
        ("alice", "answered"),
        ("bob", "another_answered"),
    ]


async def test_in_room_the_caller_does_not_hear_the_group_phones_while_they_ring() -> None:
    """The SIP bridge publishes each leg's track while its phone rings, and the caller's
    bridge subscribes to it: as for a single target, every leg of the group is cut off
    from the caller as its track appears (early media, a first word before the answer's
    cut)."""
    scenario = {"phones": {ALICE: {"answer": 4}, BOB: {"answer": 2}}}
    async with live(scenario, flavor="oss") as (sandbox, engine, _):
        transfer = await engine.start(flow("ring_group"), room="call-1")
        heard: list[tuple[float, str]] = []
        clock = sandbox.manual_clock
        advance = clock.advance

        async def sampling(seconds: float) -> None:
            room = sandbox.world.rooms.get("call-1")
            for identity in room.members if room else {}:
                ringing = (
                    identity.startswith("supervisor-") and transfer.state == "dial_supervisors"
                )
                if ringing and sandbox.hears("call-1", CALLER_IDENTITY, identity):
                    heard.append((clock.now(), identity))
            await advance(seconds)

        clock.advance = sampling  # type: ignore[method-assign]
        await drive(sandbox, engine, transfer.outcome)
        outcome = await transfer.outcome
    assert outcome.kind == "merged"
    assert heard == []
