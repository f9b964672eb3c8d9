"""An answered `in_room` leg stays up: livekit-server does not close it with
`NEGOTIATE_FAILED` when the engine cuts it off from the room at the answer (its
`UpdateSubscriptions` meeting the SIP bridge's own subscription). A few legs here, in
`make e2e`; `python -m tests.e2e.harness.negotiate --legs 30` counts more (docs/real-stack.md)."""

from __future__ import annotations

from tests.e2e.harness.figures import FIGURES
from tests.e2e.harness.negotiate import PHONES, measure

LEGS = 2 * len(PHONES)  # each kind of supervisor twice: about 30 s


async def test_answered_legs_are_not_closed_by_a_failed_negotiation(
    stack: dict[str, str], carrier_trunk: str
) -> None:
    count = await measure(stack, carrier_trunk, LEGS, "e2e")
    FIGURES.negotiation(count.answered_legs, count.failed_legs)
    assert count.answered_legs == LEGS
    assert count.closings == []
