"""Catalogue B (the caller's leg) and C (the merge).

B6 and B8 (withheld and malformed caller numbers) are hostile inputs, in
`test_bad_inputs_runtime.py`. B7 (an unverified caller ID under `require_verstat: A`) cannot
apply: flows have no STIR/SHAKEN policy, and the engine presents a caller's number only when
it is strict E.164 under `caller_id.mode: preserve`, which the designer must opt into.
"""

from __future__ import annotations

from typing import Any

import pytest
from livekit.protocol import models

from orchestrator import TransferError
from orchestrator.sandbox.scenario import PhoneSpec
from tests.reliability.cases import MOVE, fault, phones
from tests.reliability.harness import flow, warm
from tests.reliability.rig import Rig

CALLER_LEFT_NOTICE = "The caller has hung up"


def _moves(rig: Rig) -> list[dict[str, Any]]:
    """MoveParticipant requests for a supervisor (not the preflight's probe)."""
    return [
        r["request"]
        for r in rig.sandbox.requests
        if r["rpc"] == MOVE
        and r["request"]
        and r["request"].get("identity", "").startswith("supervisor-")
    ]


# -- B: the caller -----------------------------------------------------------------------

CALLER_HANGS_UP: dict[str, dict[str, Any]] = {
    "B1-while-ringing": {**phones({"answer": 5.0}), "caller": {"hangup_after": 1.0}},
    "B1-before-the-first-ring": {**phones({"answer": 5.0}), "caller": {"hangup_after": 0.05}},
    "B2-during-brief": {
        **phones({"answer": 1.0, "decide_after": 5.0}),
        "caller": {"hangup_after": 3.0},
    },
    "B3-during-move": {
        **phones({"answer": 1.0, "decide_after": 1.0}),
        "caller": {"hangup_after": 2.5},
        "faults": [fault(MOVE, delay=1.0, times=2)],
    },
    "B4-with-the-answer": {**phones({"answer": 3.0}), "caller": {"hangup_after": 3.0}},
    "B4-with-the-accept": {
        **phones({"answer": 1.0, "decide_after": 1.0}),
        "caller": {"hangup_after": 2.0},
    },
    "B4-with-the-busy-signal": {**phones({"answer": "busy"}), "caller": {"hangup_after": 0.5}},
    "B4-with-the-move": {
        **phones({"answer": 1.0, "decide_after": 1.0}),
        "caller": {"hangup_after": 2.0},
        "faults": [fault(MOVE, delay=0.0)],
    },
}


@pytest.mark.parametrize("case", sorted(CALLER_HANGS_UP))
async def test_caller_hangs_up(case: str) -> None:
    """B1-B4: the caller hangs up at any moment, or in the same tick as the supervisor acts:
    one consistent terminal state, everything in flight cancelled and cleaned up."""
    async with Rig(CALLER_HANGS_UP[case], fault=case) as rig:
        outcome = await rig.run(warm())
        if case.startswith("B4"):  # a race: either side may win, but only one outcome
            assert outcome.kind in ("caller_hung_up", "merged", "returned")
        else:
            assert outcome.kind == "caller_hung_up"
        notices = [
            c for c in rig.media.calls if c.action == "brief" and CALLER_LEFT_NOTICE in c.text
        ]
        if case.startswith("B4"):  # told once if the hang-up came while being briefed
            assert len(notices) <= 1
        else:
            assert len(notices) == (1 if case.startswith("B2") else 0)


@pytest.mark.parametrize(("digit", "supervisor"), [("1", "silent"), ("2", "accept")])
async def test_caller_dtmf_on_hold_is_not_a_decision(digit: str, supervisor: str) -> None:
    """B5: keys the caller presses on hold neither accept nor decline for the supervisor."""
    scenario = phones({"answer": 1.0, "on_brief": supervisor, "decide_after": 2.0})
    async with Rig(scenario, fault=f"B5-caller-presses-{digit}") as rig:
        rig.on_state("brief_supervisor", lambda: rig.press(digit, who="caller"))
        outcome = await rig.run(warm())
        expected = ("merged", None) if supervisor == "accept" else ("returned", "timeout")
        assert (outcome.kind, outcome.reason) == expected
        assert "RoomService.SendData" not in rig.rpcs()


# -- C: the merge ------------------------------------------------------------------------

MERGE: dict[str, tuple[dict[str, Any], tuple[str, Any], tuple[int, int]]] = {
    "C1-move-503-once": (fault(MOVE, "unavailable"), ("merged", None), (1, 2)),
    "C1-move-503-always": (
        fault(MOVE, "unavailable", times=20),
        ("returned", "move_failed"),
        (1, 2),
    ),
    "C1-move-429-once": (fault(MOVE, "resource_exhausted"), ("merged", None), (1, 2)),
    "C1-move-timeout": (
        fault(MOVE, "deadline_exceeded", delay=30.0, times=20),
        ("returned", "move_failed"),
        (1, 2),
    ),
    "C1-move-answer-lost": (
        fault(MOVE, "deadline_exceeded", lose_response=True, times=20),
        ("merged", None),
        (1, 1),
    ),
    "C1-move-slow-but-fine": (fault(MOVE, delay=5.0), ("merged", None), (1, 1)),
}


@pytest.mark.parametrize("case", sorted(MERGE))
async def test_merge_fault(case: str) -> None:
    """C1: the move fails, stalls or loses its answer; reconcile before retrying, then a
    bounded retry, then `move_failed` with the caller back and the supervisor hung up."""
    spec, (kind, reason), (low, high) = MERGE[case]
    async with Rig(phones({"answer": 1.0}), fault=case) as rig:
        # Armed once the brief starts: the fault hits the supervisor's move, never a probe
        # of the method the engine may make before the hold.
        rig.on_state("brief_supervisor", lambda: rig.sandbox.add_fault(**spec))
        outcome = await rig.run(warm())
        assert (outcome.kind, outcome.reason) == (kind, reason)
        assert low <= len(_moves(rig)) <= high


@pytest.mark.parametrize("strategy", ["auto", "move", "in_room"])
async def test_open_source_server_is_found_before_the_hold(strategy: str) -> None:
    """C2: MoveParticipant is not implemented (self-hosted LiveKit): either the flow merges
    another way, or the transfer is refused before the caller is held."""
    text = f"merge_strategy: {strategy}\nfallback: return_to_agent"
    flow_ = flow("warm_transfer", ("fallback: return_to_agent", text))
    async with Rig(phones({"answer": 1.0}), flavor="oss", fault=f"C2-oss-{strategy}") as rig:
        try:
            outcome = await rig.run(flow_)
        except TransferError as refused:
            error: TransferError | None = refused
        else:
            error = None
        if error is not None:  # refused at start, with the reason, before any hold or dial
            rig.verify()
            assert error.reason in ("config_error", "move_unavailable")
            assert rig.media.windows == {}
            assert rig.dials() == []
        elif outcome.kind != "merged":  # refused: before the hold, and nobody was dialled
            assert (rig.media.windows, rig.dials()) == ({}, []), outcome


async def test_second_transfer_in_the_same_call() -> None:
    """C4: a second transfer for the same caller uses new identities; nobody is kicked."""
    async with Rig(phones({"answer": "busy"}), fault="C4-second-transfer") as rig:
        first = await rig.start(warm())
        await rig.run_until(first.outcome)
        rig.sandbox.scenario.phones["default"] = PhoneSpec()  # the next call is answered
        await rig.start(warm())
        outcomes = await rig.finish()
        rig.verify()
        assert [(o.kind, o.reason) for o in outcomes] == [("returned", "busy"), ("merged", None)]
        identities = [d["participant_identity"] for d in rig.dials()]
        rooms = {d["room_name"] for d in rig.dials()}
        assert len(set(identities)) == len(identities) == 2
        assert len(rooms) == 2
        kicked = [
            e
            for e in rig.monitor.events
            if e.kind == "participant_left"
            and e.participant is not None
            and e.participant.disconnect_reason == models.DisconnectReason.DUPLICATE_IDENTITY
        ]
        assert kicked == []


@pytest.mark.parametrize("after", [0.0, 0.5, 0.99])
async def test_supervisor_hangs_up_mid_move(after: float) -> None:
    """C5: the supervisor hangs up while the move is in flight: consistent, nothing left."""
    async with Rig(phones({"answer": 1.0, "decide_after": 1.0}), fault=f"C5-{after}") as rig:
        rig.on_state("brief_supervisor", lambda: rig.sandbox.add_fault(**fault(MOVE, delay=1.0)))
        rig.on_state("merge_call", lambda: rig.at(after, rig.supervisor_hangs_up))
        outcome = await rig.run(warm())
        assert outcome.kind in ("returned", "merged")
        if outcome.kind == "returned":
            assert outcome.reason in ("supervisor_left", "move_failed")


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [("1", "1", "merged"), ("2", "1", "returned"), ("1", "2", "merged"), ("2", "2", "returned")],
    ids=["accept-twice", "accept-after-decline", "decline-after-accept", "decline-twice"],
)
async def test_double_decision(first: str, second: str, expected: str) -> None:
    """C6: the first decision wins; no second move, nothing happens after the end."""
    scenario = phones({"answer": 1.0, "on_brief": "silent"})
    async with Rig(scenario, fault=f"C6-{first}-{second}") as rig:
        rig.on_state("brief_supervisor", lambda: (rig.press(first), rig.press(second)))
        transfer = await rig.start(warm(voice=True))
        (outcome,) = await rig.finish()
        requests = len(rig.sandbox.requests)
        transfer.dtmf(transfer.consult_room, outcome.attempts[-1].identity, "1")
        transfer.decide(True)
        await rig.advance(5.0)
        rig.verify()
        assert outcome.kind == expected
        assert len(_moves(rig)) == (1 if expected == "merged" else 0)
        assert len(rig.sandbox.requests) == requests  # a decision after the end does nothing
