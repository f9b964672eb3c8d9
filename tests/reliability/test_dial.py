"""Dialling: a dial that lands after the transfer ended is hung up."""

from __future__ import annotations

import pytest

from tests.reliability.cases import ACCEPTS, DIAL
from tests.reliability.harness import flow
from tests.reliability.rig import Rig


# Found by the stateful test (was tests/reliability/test_stateful_regressions.py).
@pytest.mark.parametrize(
    ("delay", "answer"),
    [
        (2.0, "ok"),
        (2.0, "lost"),
        (30.0, "ok"),
    ],
    ids=["slow", "slow-answer-lost", "very-slow"],
)
async def test_a_dial_that_lands_after_the_end_is_hung_up(delay: float, answer: str) -> None:
    """Was: a dial still parked at the server when the transfer ended created its leg after
    the consult room was deleted (the room came back), and nothing hung it up (A12).
    Found as: chain flow, a slow CreateSIPParticipant (parked at the server before the call
    is placed), the caller hanging up meanwhile; then the same with the dial's answer lost,
    and with a dial parked for 30 s (its request deadline: ring timeout 20 s + 10 s), which
    cleanup once stopped waiting for after 10 s."""
    slow: dict[str, object] = {"rpc": DIAL, "delay": delay}
    if answer == "lost":
        slow.update(code="unavailable", lose_response=True)
    scenario = {
        "phones": {"default": ACCEPTS},
        "caller": {"hangup_after": 1.0},
        "faults": [slow],
    }
    async with Rig(scenario, fault=f"stateful-late-dial-{delay}-{answer}") as rig:
        outcome = await rig.run(flow("supervisor_chain"))
        assert outcome.kind == "caller_hung_up"
