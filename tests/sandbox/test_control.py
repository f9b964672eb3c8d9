"""Scenario control: faults, dispatches, webhooks, recording, scenario files and the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from aiohttp import web
from google.protobuf.duration_pb2 import Duration
from livekit import api

from orchestrator import FlowError
from orchestrator.sandbox import Sandbox, load_scenario
from tests.sandbox.conftest import dial_request, run_for

SECRET = "a-secret-long-enough-for-hs256-0123456789"


class TestFaults:
    @pytest.mark.livekit_sandbox(
        scenario={
            "faults": [{"rpc": "RoomService.MoveParticipant", "code": "unavailable", "times": 2}]
        }
    )
    async def test_injected_by_rpc_and_code_then_spent(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        identity = livekit_sandbox.place_caller("call-1")
        move = api.MoveParticipantRequest(
            room="call-1", identity=identity, destination_room="other"
        )
        for _ in range(2):
            with pytest.raises(api.TwirpError) as caught:
                await livekit_api.room.move_participant(move)
            assert (caught.value.code, caught.value.status) == ("unavailable", 503)
        await livekit_api.room.move_participant(move)
        assert livekit_sandbox.world.member("other", identity) is not None
        assert livekit_sandbox.faults.injected == 2

    async def test_lost_response_does_the_work(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        identity = livekit_sandbox.place_caller("call-1")
        livekit_sandbox.add_fault(
            "RoomService.MoveParticipant", "deadline_exceeded", lose_response=True
        )
        with pytest.raises(api.TwirpError) as caught:
            await livekit_api.room.move_participant(
                api.MoveParticipantRequest(
                    room="call-1", identity=identity, destination_room="other"
                )
            )
        assert caught.value.code == "deadline_exceeded"
        assert livekit_sandbox.world.member("other", identity) is not None  # it happened anyway

    async def test_fault_with_sip_status(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        livekit_sandbox.add_fault(
            "SIP.CreateSIPParticipant",
            "permission_denied",
            sip_status_code=403,
            message="Forbidden",
        )
        with pytest.raises(api.SipCallError) as caught:
            await livekit_api.sip.create_sip_participant(dial_request())
        assert caught.value.sip_status_code == 403
        assert livekit_sandbox.room("consult") is None  # refused before anything happened


async def test_agent_dispatch(livekit_api: api.LiveKitAPI) -> None:
    created = await livekit_api.agent_dispatch.create_dispatch(
        api.CreateAgentDispatchRequest(agent_name="transfer-agent", room="call-9", metadata="{}")
    )
    assert created.id.startswith("AD_")
    assert created.state.created_at > 10**18  # nanoseconds, as the server stores them
    listed = await livekit_api.agent_dispatch.list_dispatch("call-9")
    assert [d.id for d in listed] == [created.id]
    deleted = await livekit_api.agent_dispatch.delete_dispatch(created.id, "call-9")
    assert deleted.id == created.id
    assert await livekit_api.agent_dispatch.list_dispatch("call-9") == []
    with pytest.raises(api.TwirpError) as caught:
        await livekit_api.agent_dispatch.delete_dispatch(created.id, "call-9")
    assert caught.value.code == "not_found"


async def test_webhooks_are_signed_and_ordered(unused_tcp_port: int) -> None:
    received: list[api.WebhookEvent] = []
    receiver = api.WebhookReceiver(api.TokenVerifier("devkey", SECRET))

    async def hook(request: web.Request) -> web.Response:
        assert request.content_type == "application/webhook+json"
        body = await request.text()
        received.append(receiver.receive(body, request.headers["Authorization"]))
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    try:
        sandbox = Sandbox(api_secret=SECRET, webhook=f"http://127.0.0.1:{unused_tcp_port}/hook")
        async with sandbox:
            client = api.LiveKitAPI(sandbox.url, sandbox.api_key, sandbox.api_secret)
            try:
                identity = sandbox.place_caller("call-1")
                await client.room.remove_participant(
                    api.RoomParticipantIdentity(room="call-1", identity=identity)
                )
                await client.room.delete_room(api.DeleteRoomRequest(room="call-1"))
            finally:
                await client.aclose()
        assert sandbox.webhooks is not None
        assert (sandbox.webhooks.delivered, sandbox.webhooks.failed) == (6, 0)
        assert all(abs(e.created_at - time.time()) < 60 for e in received)  # unix seconds
    finally:
        await runner.cleanup()
    assert [e.event for e in received] == [
        "room_started",
        "participant_joined",
        "track_published",
        "track_unpublished",
        "participant_left",
        "room_finished",
    ]
    assert received[1].participant.attributes["sip.phoneNumber"] == "+14155552671"
    assert received[4].participant.disconnect_reason == api.DisconnectReason.PARTICIPANT_REMOVED
    assert {e.room.name for e in received} == {"call-1"}


async def test_record_file_is_json_lines(tmp_path: Path) -> None:
    record = tmp_path / "requests.jsonl"
    async with Sandbox(record=record) as sandbox:
        client = api.LiveKitAPI(sandbox.url, sandbox.api_key, sandbox.api_secret)
        try:
            await client.room.create_room(api.CreateRoomRequest(name="r"))
            await client.room.update_room_metadata(
                api.UpdateRoomMetadataRequest(room="r", metadata="m")
            )
        finally:
            await client.aclose()
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [(e["rpc"], e["room"], e["code"]) for e in lines] == [
        ("RoomService.CreateRoom", "r", "ok"),
        ("RoomService.UpdateRoomMetadata", "r", "ok"),
    ]
    assert lines[1]["request"] == {"room": "r", "metadata": "m"}


class TestScenarioFiles:
    def test_the_design_example_loads(self) -> None:
        scenario = load_scenario(
            """caller:
  number: "+14155552671"
  hangup_after: 4.0
trunk:
  id: ST_sandbox
  numbers: ["+18005550100"]
  caller_id_policy: any
phones:
  default: {answer: 1.0, on_brief: accept}
  "+15105550100":
    answer: 2.0
    on_brief: accept
faults:
  - rpc: RoomService.MoveParticipant
    code: unavailable
    times: 1
speed: 50
"""
        )
        assert scenario.phone("+15105550100").answer == 2.0
        assert scenario.phone("+19999999999").answer == 1.0
        assert scenario.faults[0].rpc == "RoomService.MoveParticipant"

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ('phones:\n  "5105550100": {answer: 2}\n', "2:3: name in phones: phone keys are"),
            (
                "phones:\n  default: {answer: sometimes}\n",
                "2:21: phones.default.answer: answer is",
            ),
            ("faults:\n  - {rpc: Room.Move, code: unavailable}\n", "2:11: faults.0.rpc: rpc is"),
            ("faults:\n  - {rpc: SIP.CreateSIPParticipant, code: oops}\n", "2:43: faults.0.code"),
            ("trunk: {caller_id_policy: owned}\n", "1:27: trunk.caller_id_policy"),
            (
                "caller: {number: +14155552671}\n",
                "1:18: caller.number: phone numbers must be quoted",
            ),
            ("speed: 0\n", "1:8: speed: must be greater than 0"),
        ],
    )
    def test_problems_are_positioned(self, text: str, expected: str) -> None:
        with pytest.raises(FlowError) as caught:
            load_scenario(text + "\n")
        assert any(p.render("s").startswith(f"s:{expected}") for p in caught.value.problems), (
            caught.value.problems
        )

    @pytest.mark.livekit_sandbox(scenario={"speed": 1000, "phones": {"default": {"answer": 30.0}}})
    async def test_speed_compresses_simulated_waits(
        self, livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
    ) -> None:
        """A 30-second ring at speed 1000 is answered; the simulated clock counts 30 s."""
        request = dial_request(ringing_timeout=Duration(seconds=60))
        info = await livekit_api.sip.create_sip_participant(request)
        assert info.participant_identity == "sup-1"
        assert livekit_sandbox.clock.now() >= 30


async def test_cli_serves_until_interrupted(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("phones:\n  default: {answer: 0.5}\nspeed: 100\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator",
        "sandbox",
        "--port",
        "0",
        "--scenario",
        str(scenario),
        "--api-secret",
        SECRET,
        "--caller-room",
        "call-1",
        "--record",
        str(tmp_path / "r.jsonl"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    lines = [(await process.stdout.readline()).decode().strip() for _ in range(6)]
    settings = dict(line.split("=", 1) for line in lines if "=" in line)
    assert settings["LIVEKIT_API_KEY"] == "devkey"
    assert settings["LIVEKIT_SIP_OUTBOUND_TRUNK"] == "ST_sandbox"
    client = api.LiveKitAPI(settings["LIVEKIT_URL"], "devkey", SECRET)
    try:
        listed = await client.room.list_participants(api.ListParticipantsRequest(room="call-1"))
        info = await client.sip.create_sip_participant(dial_request())
    finally:
        await client.aclose()
    assert [p.identity for p in listed.participants] == ["sip_+14155552671"]
    assert info.participant_identity == "sup-1"
    process.send_signal(signal.SIGINT)
    _, stderr = await process.communicate()
    assert process.returncode == 0, stderr
    recorded = (tmp_path / "r.jsonl").read_text().splitlines()
    assert [json.loads(line)["rpc"] for line in recorded] == [
        "RoomService.ListParticipants",
        "SIP.CreateSIPParticipant",
    ]


async def test_cli_rejects_a_bad_scenario(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("speed: fast\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator",
        "sandbox",
        "--scenario",
        str(scenario),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ},
    )
    _, stderr = await process.communicate()
    assert process.returncode == 1
    assert stderr.decode().startswith(f"{scenario}:1:8: speed: must be a number")


@pytest.mark.livekit_sandbox(manual_clock=True)
async def test_manual_clock_needs_no_real_waiting(
    livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
) -> None:
    """A 10-minute ring is simulated instantly."""
    request = dial_request(ringing_timeout=Duration(seconds=600))
    await run_for(livekit_sandbox, 2, livekit_api.sip.create_sip_participant(request))
    assert livekit_sandbox.manual_clock.now() == 2
