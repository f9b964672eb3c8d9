"""Starting a transfer: only a caller's phone leg can be transferred, and a start after the
caller left a merged call."""

from __future__ import annotations

import pytest

from orchestrator import TransferError
from tests.reliability.cases import ACCEPTS, HAPPY
from tests.reliability.harness import flow, warm
from tests.reliability.invariants import no_leaks
from tests.reliability.rig import Rig


# A promise an attacker broke (issue 14; was tests/reliability/test_broken_promises.py).
@pytest.mark.parametrize("who", ["agent", "supervisor"])
async def test_only_a_callers_phone_leg_can_be_transferred(who: str) -> None:
    """`caller_identity` naming the AI agent ran the whole flow with the agent as the
    caller; naming one of our supervisor legs is as wrong."""
    async with Rig(HAPPY, fault=f"caller-identity-{who}") as rig:
        identity = who
        if who == "supervisor":
            identity = rig.sandbox.place_caller(rig.room, "+15105550100")
            leg = {"transfer.id": "abcdefghijkl", "transfer.role": "supervisor"}
            rig.sandbox.world.set_attributes(rig.room, identity, leg)
        with pytest.raises(TransferError) as refused:
            await rig.start(warm(), caller_identity=identity)
        assert refused.value.reason == "config_error"
        assert "caller_identity" in str(refused.value)
        assert rig.media.calls == []
        if who == "supervisor":
            rig.sandbox.remove(rig.room, identity)
        no_leaks(rig, logs=False)  # the fake leg, placed by hand, is named after its number


# Found by the stateful test (was tests/reliability/test_stateful_regressions.py).
async def test_a_transfer_requested_after_the_caller_left_a_merged_call() -> None:
    """Was: start() without caller_identity took any SIP participant for the caller; after
    the caller left a merged call it took the supervisor, held them and dialled.
    Found as: merged at once, the caller hangs up, the transfer is requested again (the
    worker integration passes `caller_identity`; direct library users may not)."""
    scenario = {"phones": {"default": ACCEPTS}}
    async with Rig(scenario, fault="stateful-supervisor-taken-for-the-caller") as rig:
        first = await rig.start(flow("supervisor_chain"))
        await rig.run_until(first.outcome)
        rig.caller_hangs_up()
        await rig.settle()
        with pytest.raises(TransferError):
            await rig.start(flow("supervisor_chain"))
        await rig.finish()
        rig.verify()
