"""`engine.reconcile`: what a transfer may have created, found by name and attribute on
LiveKit (the sandbox) and made to match what must remain; done twice, the same."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from orchestrator.clock import ManualClock
from orchestrator.engine.checkpoint import attributes, holder
from orchestrator.engine.reconcile import BUDGET_S, Created, reconcile
from orchestrator.livekit import Gateway, Participant
from orchestrator.livekit.names import consult_room
from orchestrator.sandbox import Sandbox, Scenario

TRANSFER = "abcdefghijkl"


@dataclass(frozen=True)
class _Calls:
    gateway: Gateway
    log: Any


def _nobody(listed: list[Participant], legs: list[str]) -> str | None:
    return None


async def test_reconcile_deletes_the_consult_room_clears_the_checkpoint_and_is_idempotent() -> (
    None
):
    clock = ManualClock()
    async with Sandbox(Scenario.model_validate({}), clock=clock) as sandbox:
        caller = sandbox.place_caller("call-1")
        gateway = Gateway(sandbox.url, sandbox.api_key, sandbox.api_secret)
        on = _Calls(gateway, structlog.get_logger("test"))
        try:
            await gateway.create_room(on.log, consult_room(TRANSFER), empty_timeout=60)
            checkpoint = attributes(TRANSFER, "held", consult_room(TRANSFER))
            await gateway.set_attributes(on.log, "call-1", caller, checkpoint)
            assert sandbox.room(consult_room(TRANSFER)) is not None
            created = Created("call-1", TRANSFER, caller)
            for _ in range(2):  # the second time finds nothing to do, and says so quietly
                kept = await reconcile(
                    on, clock, created, keep=_nobody, clear=True, until=clock.now() + BUDGET_S
                )
                assert kept is None
                assert sandbox.room(consult_room(TRANSFER)) is None
                seen = await gateway.get_participant(on.log, "call-1", caller)
                assert seen is not None
                assert holder(seen) == ""
        finally:
            await gateway.close()


async def test_reconcile_keeps_the_checkpoint_when_told_and_the_caller_room() -> None:
    clock = ManualClock()
    async with Sandbox(Scenario.model_validate({}), clock=clock) as sandbox:
        caller = sandbox.place_caller("call-1")
        gateway = Gateway(sandbox.url, sandbox.api_key, sandbox.api_secret)
        on = _Calls(gateway, structlog.get_logger("test"))
        try:
            checkpoint = attributes(TRANSFER, "merged", consult_room(TRANSFER))
            await gateway.set_attributes(on.log, "call-1", caller, checkpoint)
            await reconcile(
                on,
                clock,
                Created("call-1", TRANSFER, caller),
                keep=_nobody,
                clear=False,
                until=clock.now() + BUDGET_S,
            )
            seen = await gateway.get_participant(on.log, "call-1", caller)
            assert seen is not None
            assert holder(seen) == TRANSFER
            assert sandbox.room("call-1") is not None
        finally:
            await gateway.close()
