"""The worker's side of a callback promise: `WarmTransfer(on_outcome=...)` hands the
application the outcome with the number to call back; the LLM is told the call ended."""

from __future__ import annotations

from structlog.testing import capture_logs

from orchestrator.engine import TransferOutcome
from tests.agents.conftest import agent_rig
from tests.conftest import ROOT

AFTER_HOURS = ROOT / "flows" / "after_hours.yaml"
CLOSED = {"now": "2026-12-05T19:02:00+00:00"}


async def test_on_outcome_receives_the_callback_to_place() -> None:
    seen: list[TransferOutcome] = []

    async def on_outcome(outcome: TransferOutcome) -> None:
        seen.append(outcome)

    async with agent_rig(CLOSED, transfer_flow=AFTER_HOURS, on_outcome=on_outcome) as rig:
        result, _ = await rig.call_tool("wants a refund")
    assert result.startswith("The call was ended"), result
    (outcome,) = seen
    assert (outcome.kind, outcome.reason) == ("hung_up", "callback")
    assert outcome.callback is not None
    assert (outcome.callback.number, outcome.callback.step) == ("+14155552671", "offer_callback")


async def test_a_failing_on_outcome_does_not_fail_the_tool() -> None:
    async def on_outcome(outcome: TransferOutcome) -> None:
        raise RuntimeError("the queue is down")

    with capture_logs() as logs:
        async with agent_rig(CLOSED, transfer_flow=AFTER_HOURS, on_outcome=on_outcome) as rig:
            result, _ = await rig.call_tool()
    assert result.startswith("The call was ended"), result
    assert [e["error"] for e in logs if e["event"] == "agents.on_outcome_failed"] == [
        "RuntimeError"
    ]
