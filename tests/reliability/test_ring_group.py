"""Ring groups under faults and races: at most one answered supervisor leg, none left behind.

Each case runs `flows/ring_group.yaml` (Alice and Bob rung together, then the team lead)
against the sandbox on a manual clock with its fault or race, then `Rig.verify` checks the
global invariants (INV-DIAL now: legs ring together only within a group, and at most one
answered leg outlives the instant it answered in; INV-LEAK: no leg left behind).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.reliability.cases import BACKUP, DIAL, LEAD, PRIMARY, fault, phones, sip
from tests.reliability.harness import flow
from tests.reliability.rig import Rig

REMOVE = "RoomService.RemoveParticipant"
BACKUP_NUMBER = "+15105550101"

# id: (scenario, acceptable outcome kinds, dial requests at most)
CASES: dict[str, tuple[dict[str, Any], set[str], int]] = {
    "RG-two-answers-same-instant": (phones({"answer": 2.0}), {"merged"}, 2),
    "RG-second-answers": (
        phones(None, **{PRIMARY: {"answer": "no_answer"}, BACKUP: {"answer": 3.0}}),
        {"merged"},
        2,
    ),
    "RG-cancel-racing-an-answer": (
        {**phones({"answer": 2.0}), "faults": [fault(REMOVE, None, delay=0.5)]},
        {"merged"},
        2,
    ),
    "RG-cancel-answer-lost": (
        {
            **phones(None, **{PRIMARY: {"answer": 2.0}, BACKUP: {"answer": 8.0}}),
            "faults": [fault(REMOVE, "unavailable", lose_response=True)],
        },
        {"merged"},
        2,
    ),
    "RG-answer-racing-callers-hangup": (
        {**phones({"answer": 2.0}), "caller": {"hangup_after": 2.0}},
        {"caller_hung_up"},
        2,
    ),
    "RG-callers-hangup-while-ringing": (
        {**phones({"answer": "no_answer"}), "caller": {"hangup_after": 5.0}},
        {"caller_hung_up"},
        2,
    ),
    "RG-one-dial-fails": (
        {**phones(None, **{BACKUP: {"answer": 4.0}}), "faults": [fault(DIAL, "unavailable")]},
        {"merged"},
        3,
    ),
    "RG-one-dial-answer-lost": (
        {**phones({"answer": 2.0}), "faults": [fault(DIAL, "unavailable", lose_response=True)]},
        {"merged"},
        2,
    ),
    "RG-all-busy-then-lead": (
        phones({"answer": "busy"}, **{LEAD: {"answer": 2.0}}),
        {"merged"},
        3,
    ),
    "RG-caller-id-refused-per-target": (
        {**phones({"answer": 2.0}), "faults": [sip(403, times=2)]},
        {"merged"},
        4,
    ),
    "RG-kept-one-declines": (
        phones({"answer": 2.0, "on_brief": "decline"}),
        {"returned"},
        3,
    ),
}


async def test_a_hang_up_livekit_refuses_is_retried_until_the_other_leg_is_gone() -> None:
    """While LiveKit refuses RemoveParticipant, the other phone that answered stays on the
    line (the engine gave it up at once); its hang-up is retried (0.5 s, then more) until
    it gets BYE, and nothing is left behind."""
    scenario = {**phones({"answer": 2.0}), "faults": [fault(REMOVE, "unavailable", times=2)]}
    async with Rig(scenario, fault="RG-hang-up-refused") as rig:
        await rig.start(flow("ring_group"))
        (outcome, *_) = await rig.finish()
        rig.verify()
        assert outcome.kind == "merged"
        assert [a.result for a in outcome.attempts] == ["answered", "another_answered"]
        bob = next(log for log in rig.sandbox.phone_logs if log.number == BACKUP_NUMBER)
        assert bob.received == ["INVITE", "ACK", "BYE"]
        assert bob.ended_at == 2.5  # the first retry, once LiveKit takes it
        assert rig.monitor.max_answered == 1


@pytest.mark.parametrize("case", sorted(CASES))
async def test_ring_group_fault(case: str) -> None:
    scenario, kinds, dials = CASES[case]
    async with Rig(scenario, fault=case) as rig:
        outcome = await rig.run(flow("ring_group"))
        assert outcome.kind in kinds, outcome
        assert len(rig.dials()) <= dials
        assert rig.monitor.max_answered <= 1
        answered = [a for a in outcome.attempts if a.result == "answered"]
        if outcome.kind == "merged":
            assert answered[-1].target in {"alice", "bob", "team_lead"}
        # Every phone rung was followed to its end: CANCEL, BYE, or a final answer of its own.
        kept = {answered[-1].identity} if outcome.kind == "merged" else set()
        for log in rig.sandbox.phone_logs:
            if log.direction == "outbound" and log.identity not in kept:
                assert log.over, log
