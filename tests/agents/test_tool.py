"""The transfer tool, end to end: the LLM calls it, the engine runs the flow against the sandbox
over HTTP, room events come back through `rtc.Room`-shaped rooms, and the tool answers.

Fast checks of the logic on a manual clock. `make e2e` runs the same tool in a real worker
on LiveKit's own server (`tests/e2e/test_worker.py`, `test_worker_recovery.py`): real room
events and DTMF, a real brief on a track only the supervisor hears, real crashes and
recovery. What only these tests cover: the consult room of LiveKit Cloud's `move` merge, the
tool's answers for every outcome, parallel tool calls, summaries."""

from __future__ import annotations

import asyncio
from typing import Any

from livekit import api, rtc
from structlog.testing import capture_logs

from orchestrator.agents.replies import IN_PROGRESS, NO_CALLER
from orchestrator.agents.speech import CONSULT_TOKEN_TTL
from orchestrator.agents.summary import SUMMARY_CHARS
from tests.agents.conftest import CALLER, agent_rig, chat, flow, reached
from tests.agents.fakes import FakeRunContext

SILENT = {"phones": {"default": {"answer": 1.0, "on_brief": "silent"}}}
HISTORY = chat(
    ("system", "You are a helpful support agent."),
    ("assistant", "Hello, how can I help?"),
    ("user", "I was charged twice for order 1234 and I want a refund."),
    ("assistant", "I am sorry about that. Let me look."),
    ("user", "I want to talk to a person, please."),
)


def finished(logs: list[dict[str, object]]) -> dict[str, object]:
    (event,) = [e for e in logs if e["event"] == "transfer.finished"]
    return event


def dialled(request: dict[str, Any]) -> bool:
    """A CreateSIPParticipant that rang someone (the engine's grant probe names no callee)."""
    return request["rpc"] == "SIP.CreateSIPParticipant" and bool(
        request["request"].get("sip_call_to")
    )


async def test_the_tool_transfers_the_sip_caller_and_reports_the_merge() -> None:
    async with agent_rig(history=HISTORY) as rig:
        before = rig.room.handlers()
        result, context = await rig.call_tool("a double charge")
        assert result.startswith("Transfer complete"), result
        assert not context.interruptions_allowed  # talking over it cannot cancel it

        requests = rig.sandbox.requests
        (dial,) = [r["request"] for r in requests if dialled(r)]
        assert dial["sip_number"] == "+14155552671"  # the caller's own number, from their leg
        caller = rig.sandbox.world.member("call-1", CALLER)
        assert caller is not None
        assert caller.info.attributes["transfer.state"] == "merged"  # while the call goes on

        # The brief: the session's TTS in the consult room, by a briefer of its own.
        consult = rig.consult()
        ((who, text),) = rig.tracks.spoken
        assert who.startswith("agent-briefer-")
        assert "a withheld number" not in text
        assert "+14155552671" in text
        assert "Caller: I was charged twice for order 1234" in text
        assert "You are a helpful" not in text  # system prompts are not the caller's words

        # Hold: gated, then given back at the merge; then the AI left the call.
        log = rig.session.log
        assert log[:5] == [
            "say audio=True",  # "Please hold...", then the hold
            "input.audio=False",
            "output.audio=False",
            "output.transcription=False",
            "interrupt",
        ]
        assert rig.players.made[0].handle.stopped
        assert rig.players.made[0].closed
        assert "input.audio=True" in log
        assert log[-1] == "shutdown drain=False"
        assert rig.shutdowns == []  # the job stays, unheard, while the merged call goes on
        assert consult.handlers() == {}  # the consult room was left
        assert consult.disconnected

        # The supervisor hangs up: the caller's phone gets BYE, then the job ends.
        (leg,) = [p for p in rig.room.remote_participants if p.startswith("supervisor-")]
        rig.sandbox.hang_up("call-1", leg)
        await rig.drive(rig.warm.engine.calls["call-1"].ended)
        (inbound,) = [log for log in rig.sandbox.phone_logs if log.direction == "inbound"]
        assert inbound.received == ["BYE"]
        assert "call-1" not in rig.sandbox.world.rooms
        for _ in range(20):
            await asyncio.sleep(0)
        assert rig.shutdowns == ["merged call ended"]
        assert rig.room.handlers() == before  # nothing left listening


async def test_a_dtmf_1_from_the_supervisor_accepts_the_brief() -> None:
    async with agent_rig(SILENT) as rig:
        task = asyncio.ensure_future(rig.warm.tool(FakeRunContext(), reason="help"))
        await rig.drive(rig.tracks.next_brief())
        consult = rig.consult()
        (supervisor,) = [p for p in consult.remote_participants.values() if p.kind == 3]
        transfer = rig.warm.engine.active["call-1"]
        # A digit from nobody in particular (a server SDK) is no decision.
        consult.emit("sip_dtmf_received", rtc.SipDTMF(code=1, digit="1", participant=None))
        for _ in range(20):
            await asyncio.sleep(0)
        assert transfer.state == "brief_supervisor"
        consult.emit("sip_dtmf_received", rtc.SipDTMF(code=1, digit="1", participant=supervisor))
        await rig.drive(task)
        assert task.result().startswith("Transfer complete")


async def test_the_caller_hanging_up_ends_the_transfer_at_once() -> None:
    scenario = {"caller": {"hangup_after": 2.0}, "phones": {"default": {"answer": 20.0}}}
    async with agent_rig(scenario) as rig:
        with capture_logs() as logs:
            result, _ = await rig.call_tool()
        assert result.startswith("The caller hung up"), result
        event = finished(logs)
        assert event["outcome"] == "caller_hung_up"
        # Heard through the room at once, not found out at the answer 18 seconds later.
        assert rig.sandbox.clock.now() < 20.0
        assert rig.room.handlers() == {"participant_connected": 1}  # the job's own


async def test_a_second_call_while_one_runs_is_told_it_is_in_progress() -> None:
    async with agent_rig(SILENT) as rig:
        first = asyncio.ensure_future(rig.warm.tool(FakeRunContext(), reason="help"))
        await rig.drive(reached(rig.sandbox, "held"))
        second, _ = await rig.call_tool("help, again")
        assert second == IN_PROGRESS
        # The first still hears its room: the supervisor declines with a 2.
        brief = rig.tracks.next_brief()
        await rig.drive(brief)
        consult = rig.consult()
        (supervisor,) = [p for p in consult.remote_participants.values() if p.kind == 3]
        consult.emit("sip_dtmf_received", rtc.SipDTMF(code=2, digit="2", participant=supervisor))
        await rig.drive(first)
        assert first.result() == (
            "The transfer did not go through: the supervisor could not take the call. The "
            "caller is off hold and back with you: apologise briefly and keep helping them."
        )
        assert rig.session.said[-1].startswith("I'm sorry, I couldn't reach a supervisor")


async def test_no_sip_caller_in_the_room_is_a_clear_answer() -> None:
    async with agent_rig(caller=False) as rig:
        before = rig.room.handlers()
        result, _ = await rig.call_tool()
        assert result == NO_CALLER
        assert rig.sandbox.requests == []  # nothing was asked of LiveKit
        assert rig.room.handlers() == before


async def test_the_brief_carries_a_bounded_summary_of_the_chat() -> None:
    long_turns = [("user", f"turn {n}: " + "word " * 60) for n in range(10)]
    async with agent_rig(history=chat(*long_turns)) as rig:
        with capture_logs() as logs:
            await rig.call_tool()
        started = [e for e in logs if e["event"] == "transfer.started"]
        assert 0 < started[0]["summary_chars"] <= SUMMARY_CHARS
        ((_, text),) = rig.tracks.spoken
        assert "turn 9:" in text
        assert "turn 0:" not in text


async def test_a_summarize_callable_replaces_the_default_and_is_bounded() -> None:
    seen = []

    async def summarize(context: object) -> str:
        seen.append(context)
        return "Refund wanted. " * 100

    async with agent_rig(history=HISTORY, summarize=summarize) as rig:
        await rig.call_tool()
        assert seen == [rig.session.history]
        ((_, text),) = rig.tracks.spoken
        assert "Refund wanted." in text
        assert "Caller:" not in text
        assert text.count("Refund wanted.") <= SUMMARY_CHARS // len("Refund wanted. ")


async def test_the_consult_room_token_the_briefer_used_is_least_privilege() -> None:
    async with agent_rig() as rig:
        await rig.call_tool()
        (token,) = rig.bridge.tokens
        verifier = api.TokenVerifier(rig.sandbox.api_key, rig.sandbox.api_secret)
        claims = verifier.verify(token)
        assert claims.video is not None
        assert claims.video.room.startswith("consult-")
        assert claims.video.room != "call-1"
        assert claims.identity.startswith("agent-briefer-")
        assert CONSULT_TOKEN_TTL.total_seconds() <= 300


async def test_an_unreachable_server_is_a_result_not_a_traceback() -> None:
    async with agent_rig(url="http://127.0.0.1:9") as rig:
        result, _ = await rig.call_tool()
        assert result.startswith("The transfer could not start"), result
        assert rig.room.handlers() == {"participant_connected": 1}


async def test_closing_the_job_mid_transfer_takes_the_caller_off_hold() -> None:
    async with agent_rig(SILENT) as rig:
        task = asyncio.ensure_future(rig.warm.tool(FakeRunContext(), reason="help"))
        await rig.drive(rig.tracks.next_brief())
        closing = asyncio.ensure_future(rig.warm.aclose())
        await rig.drive(closing)
        await rig.drive(task)
        assert task.result().startswith("The transfer failed: the transfer was cancelled")
        assert rig.session.input.audio_enabled
        assert rig.session.output.audio_enabled
        assert rig.room.handlers() == {"participant_connected": 1}
        assert rig.consult().disconnected
        assert rig.sandbox.room(rig.consult().name) is None  # the consult room is gone


async def test_recover_is_none_without_a_checkpoint_and_unwinds_one() -> None:
    async with agent_rig() as rig:
        assert await rig.warm.recover() is None
        rig.sandbox.world.set_attributes(
            "call-1",
            CALLER,
            {"transfer.id": "abcdefghijkl", "transfer.state": "held", "transfer.consult_room": ""},
        )
        recovering = asyncio.ensure_future(rig.warm.recover())
        await rig.drive(recovering)
        outcome = recovering.result()
        assert outcome is not None
        assert (outcome.kind, outcome.reason) == ("returned", "worker_lost")
        assert rig.shutdowns == []  # the AI stays with the caller


async def test_recover_asks_the_capabilities_before_the_first_transfer() -> None:
    """On a self-hosted server the probe takes 3 s: asked at the job's start, while the AI
    greets, the first transfer does not wait for it (seen on the real stack)."""
    async with agent_rig(flavor="oss") as rig:
        assert await rig.warm.recover() is None
        await rig.drive(asyncio.ensure_future(rig.sandbox.manual_clock.sleep(5.0)))
        moves = [r for r in rig.sandbox.requests if r["rpc"] == "RoomService.MoveParticipant"]
        assert len(moves) == 1  # asked by recover(), in the background
        result, _ = await rig.call_tool()
        assert result.startswith("Transfer complete"), result
        moves = [r for r in rig.sandbox.requests if r["rpc"] == "RoomService.MoveParticipant"]
        assert len(moves) == 1  # the tool's transfer used the answer the job already had


async def test_recover_finishes_a_merge_and_watches_the_call() -> None:
    async with agent_rig() as rig:
        rig.sandbox.world.set_attributes(
            "call-1", CALLER, {"transfer.id": "abcdefghijkl", "transfer.state": "merged"}
        )
        supervisor = rig.sandbox.place_caller("call-1", "+15105550100")  # the merged leg
        leg = {"transfer.id": "abcdefghijkl", "transfer.role": "supervisor"}
        rig.sandbox.world.set_attributes("call-1", supervisor, leg)
        recovering = asyncio.ensure_future(rig.warm.recover())
        await rig.drive(recovering)
        outcome = recovering.result()
        assert outcome is not None
        assert outcome.kind == "merged"
        assert rig.shutdowns == []  # the merged call goes on, watched by this job
        rig.sandbox.hang_up("call-1", CALLER)  # until the caller hangs up
        await rig.drive(rig.warm.engine.calls["call-1"].ended)
        (leg,) = [log for log in rig.sandbox.phone_logs if log.identity == supervisor]
        assert leg.received[-1] == "BYE"
        for _ in range(20):
            await asyncio.sleep(0)
        assert rig.shutdowns == ["merged call ended"]


async def test_recover_releases_a_supervisor_whose_caller_hung_up_unwatched() -> None:
    async with agent_rig(caller=False) as rig:
        supervisor = rig.sandbox.place_caller("call-1", "+15105550100")  # the merged leg
        leg = {"transfer.id": "abcdefghijkl", "transfer.role": "supervisor"}
        rig.sandbox.world.set_attributes("call-1", supervisor, leg)
        recovering = asyncio.ensure_future(rig.warm.recover())
        await rig.drive(recovering)
        outcome = recovering.result()
        assert outcome is not None
        assert (outcome.kind, outcome.reason) == ("caller_hung_up", "worker_lost")
        (phone,) = [log for log in rig.sandbox.phone_logs if log.identity == supervisor]
        assert phone.received[-1] == "BYE"


async def test_recover_without_a_sip_caller_asks_nothing() -> None:
    async with agent_rig(caller=False) as rig:
        assert await rig.warm.recover() is None
        assert rig.sandbox.requests == []


async def test_in_room_briefs_only_the_supervisor() -> None:
    async with agent_rig(flavor="oss", transfer_flow=flow(merge_strategy="in_room")) as rig:
        result, _ = await rig.call_tool()
        assert result.startswith("Transfer complete"), result
        # The supervisor's join, fed from the room, cut the caller off before the answer.
        rpcs = [(r["rpc"], r["request"].get("identity")) for r in rig.sandbox.requests]
        answered = next(i for i, r in enumerate(rig.sandbox.requests) if dialled(r))
        assert ("RoomService.UpdateSubscriptions", CALLER) in rpcs[:answered]
        local = rig.room.local_participant
        ((who, _),) = rig.tracks.spoken
        assert who == "agent"  # spoken in the caller's room, not in a consult room
        assert rig.bridge.tokens == []
        hold_sid = rig.players.made[0].sid
        closed, opened, restored = local.permissions
        supervisor = next(iter(set(opened[1]) - {CALLER}))
        assert closed == (False, {CALLER: [hold_sid], supervisor: []})
        (brief_sid,) = opened[1][supervisor]
        assert opened == (False, {CALLER: [hold_sid], supervisor: [brief_sid]})
        assert restored == (True, {})
        order = [entry.split()[0] for entry in local.log]
        assert order == [
            "permissions",  # closed before the track exists
            "publish",
            "permissions",  # the supervisor may hear it
            "speak",
            "unpublish",
            "permissions",  # back to everyone
        ]


async def test_parallel_tool_calls_start_one_transfer_that_still_hears_its_room() -> None:
    async with agent_rig() as rig:
        calls = [
            asyncio.ensure_future(rig.warm.tool(FakeRunContext(), reason="help")) for _ in "ab"
        ]
        await rig.drive(asyncio.gather(*calls))
        results = sorted(call.result() for call in calls)
        assert results[0] == IN_PROGRESS
        assert results[1].startswith("Transfer complete")  # the DTMF accept still arrived
        assert len([r for r in rig.sandbox.requests if dialled(r)]) == 1
