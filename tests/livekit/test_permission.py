"""`Gateway.set_can_subscribe`, the call of the `in_room` withholding, over HTTP to the
sandbox (what the real server does with it: the conformance suite)."""

from __future__ import annotations

import structlog
from livekit import api

from orchestrator.clock import ManualClock
from orchestrator.livekit import Gateway
from orchestrator.sandbox import Sandbox, Scenario


async def test_set_can_subscribe_changes_that_flag_only_and_while_ringing_when_asked() -> None:
    scenario = Scenario.model_validate({"phones": {"default": {"answer": 5.0}}})
    async with Sandbox(scenario, clock=ManualClock()) as sandbox:
        caller = sandbox.place_caller("call-1")
        gateway = Gateway(sandbox.url, sandbox.api_key, sandbox.api_secret)
        log = structlog.get_logger("test")
        try:
            async with api.LiveKitAPI(sandbox.url, sandbox.api_key, sandbox.api_secret) as lk:
                request = api.CreateSIPParticipantRequest(
                    sip_trunk_id=sandbox.scenario.trunk.id,
                    sip_call_to="+15105550100",
                    room_name="call-1",
                    participant_identity="supervisor-1",
                    wait_until_answered=False,
                )
                await lk.sip.create_sip_participant(request)
                leg = api.RoomParticipantIdentity(room="call-1", identity="supervisor-1")
                before = (await lk.room.get_participant(leg)).permission
                assert before.can_subscribe

                assert await gateway.set_can_subscribe(
                    log, "call-1", "supervisor-1", False, ringing=True
                )
                withheld = (await lk.room.get_participant(leg)).permission
                assert not withheld.can_subscribe
                withheld.can_subscribe = True
                assert withheld == before  # publishing, data (the DTMF), ...: all kept
                # Already so, a call no longer ringing, nobody: nothing is changed.
                assert not await gateway.set_can_subscribe(log, "call-1", "supervisor-1", False)
                assert not await gateway.set_can_subscribe(
                    log, "call-1", caller, False, ringing=True
                )
                assert not await gateway.set_can_subscribe(log, "call-1", "nobody", True)

                assert await gateway.set_can_subscribe(log, "call-1", "supervisor-1", True)
                assert (await lk.room.get_participant(leg)).permission == before
        finally:
            await gateway.close()
