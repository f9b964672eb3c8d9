"""Answered `in_room` legs and livekit-server's `NEGOTIATE_FAILED`. Before the engine kept a
ringing leg from subscribing (engine/in_room.py), the SIP bridge's own subscriptions at the
answer were made and then undone by the engine's cut, two negotiations with the leg at once,
and once in about 140 legs the server closed the leg, which the bridge joined again at once.
Counted here (a few legs in `make e2e`; `python -m tests.e2e.harness.negotiate --legs 30
--server-debug` counts more, and the subscriptions made and undone, docs/real-stack.md), and
whatever the server does, every transfer must end as its supervisor chose: a closing the
engine takes for a reconnect, isolating the leg again."""

from __future__ import annotations

from tests.e2e.harness.figures import FIGURES
from tests.e2e.harness.negotiate import PHONES, measure

LEGS = 2 * len(PHONES)  # each kind of supervisor twice: about 30 s


async def test_answered_legs_end_as_their_supervisor_chose_whatever_the_negotiation(
    stack: dict[str, str], carrier_trunk: str
) -> None:
    count = await measure(stack, carrier_trunk, LEGS, "e2e")
    FIGURES.negotiation(count.answered_legs, count.failed_legs)
    assert count.answered_legs == LEGS
    # One supervisor of three accepts (merged); the others decline or hang up (returned).
    assert count.outcomes == {"merged": LEGS // 3, "returned": LEGS - LEGS // 3}, count.closings
