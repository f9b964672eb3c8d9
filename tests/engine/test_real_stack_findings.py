"""What running against LiveKit's own server and SIP bridge showed the engine got wrong.

Each test pins one behaviour the e2e suite observed on the real stack (`make e2e`; the
conformance check named in the docstring holds the sandbox to it), so `make test` fails if
the engine regresses, without the real stack.
"""

from __future__ import annotations

import asyncio

from orchestrator.engine.presence import DEPARTURE_GRACE_S
from orchestrator.errors import LiveKitError
from orchestrator.sandbox import Event
from orchestrator.simulate import drive
from tests.engine.conftest import flow, live

CALLER = "sip_+14155552671"


async def test_an_unclaimed_move_probe_means_no_move_participant() -> None:
    """`test_probe_move_nobody`: the open-source server answers a move naming nobody
    `unavailable` ("no response from servers") after about 3 s, not "not implemented"; it
    used to make every transfer on self-hosted LiveKit fail before the hold."""
    async with live(flavor="oss") as (sandbox, engine, _):
        capabilities = await engine.capabilities()  # answered by `live` already: cached
        assert capabilities.move is False
        assert capabilities.missing == frozenset()
        transfer = await engine.start(flow("warm_transfer"), room="call-1")
        await drive(sandbox, engine, transfer.outcome)
        assert (await transfer.outcome).kind == "merged"


async def test_the_three_probes_are_sent_together() -> None:
    async with live(flavor="oss") as (sandbox, _, _):
        probes = [r for r in sandbox.requests if r["rpc"] != "RoomService.ListParticipants"]
        assert len(probes) == 3
        # Each was sent before any was answered (one by one, the move's 3 s come first).
        sent = [r["time"] for r in probes]
        answered = [r["time"] + r["duration_ms"] / 1000 for r in probes]
        assert max(sent) < min(answered)


def test_a_phone_refusing_is_not_a_refused_api_key() -> None:
    """`test_dial_refused[decline]`, `test_dial_caller_id_refused_by_carrier`: LiveKit's SIP
    bridge answers a phone's 603 or 403 with Twirp `permission_denied`, SIP status attached."""
    phone = LiveKitError("declined", code="permission_denied", status=403, sip_status=603)
    key = LiveKitError("no grant", code="permission_denied", status=403)
    assert not phone.denied
    assert key.denied


async def test_a_declined_dial_leaves_no_permission_failure_behind() -> None:
    """It used to set `failure_reason = "permission"` on every 403/603 from a phone, which a
    later `failed` outcome of the same transfer then reported."""
    async with live({"phones": {"default": {"answer": "decline"}}}) as (sandbox, engine, _):
        transfer = await engine.start(flow("warm_transfer"), room="call-1")
        await drive(sandbox, engine, transfer.outcome)
        outcome = await transfer.outcome
        assert (outcome.kind, outcome.reason) == ("returned", "declined")
        assert [a.sip_status for a in outcome.attempts] == [603]
        assert transfer.failure_reason is None


async def test_in_room_cuts_the_caller_off_when_the_supervisor_track_appears() -> None:
    """`test_outbound_leg_lifecycle` and the real merge: the bridge publishes the
    supervisor's track after the leg joined (while it rings), and the caller's bridge
    subscribes to it. The cut at the join found no track and the answer did not cut again,
    so the caller heard the supervisor during the brief."""
    scenario = {"phones": {"default": {"answer": 2.0, "on_brief": "silent"}}}
    async with live(scenario, flavor="oss") as (sandbox, engine, _):
        transfer = await engine.start(flow("warm_transfer"), room="call-1")
        answered = asyncio.get_running_loop().create_future()

        def on_transition(_: str, to_state: str, __: str) -> None:
            if to_state == "brief_supervisor" and not answered.done():
                answered.set_result(transfer.supervisor)

        transfer.add_listener(on_transition)
        await drive(sandbox, engine, answered)
        supervisor = answered.result()
        assert not sandbox.hears("call-1", CALLER, supervisor)
        cuts = [
            r
            for r in sandbox.requests
            if r["rpc"] == "RoomService.UpdateSubscriptions" and r["request"]["identity"] == CALLER
        ]
        assert len(cuts) == 2  # when the track was published, and again at the answer
        transfer.cancel()
        await drive(sandbox, engine, transfer.outcome)


async def test_a_key_pressed_during_the_brief_decides_at_once() -> None:
    """The real worker's brief is spoken by TTS for several seconds; a supervisor pressing 1
    in the middle of it waited for the end before the merge. Now the rest is not read."""
    scenario = {"phones": {"default": {"answer": 1.0, "decide_after": 1.0}}}
    async with live(scenario) as (sandbox, engine, media):
        clock = sandbox.manual_clock
        spoken: list[str] = []

        async def long_brief(room: str, supervisor: str, text: str) -> None:
            try:
                await clock.sleep(20.0)  # a long brief, read slowly
                spoken.append("all")
            except asyncio.CancelledError:
                spoken.append("cut short")
                raise

        media.brief = long_brief  # type: ignore[method-assign]
        transfer = await engine.start(flow("warm_transfer"), room="call-1")
        await drive(sandbox, engine, transfer.outcome)
        outcome = await transfer.outcome
        assert outcome.kind == "merged"
        assert spoken == ["cut short"]
        assert outcome.hold_seconds < 5


async def test_a_supervisor_reconnecting_at_the_answer_is_not_a_hang_up() -> None:
    """`test_supervisor_hangs_up_during_the_brief[real]`, once in CI: at the answer the
    server closed the supervisor's participant (`NEGOTIATE_FAILED`: our UpdateSubscriptions
    and the bridge's own collided) and the bridge joined again 15 ms later. The engine took
    the departure for a hang-up and hung up a supervisor who had just answered. Now a
    departure counts once it lasted and the server no longer lists the participant, and the
    leg that joined again is cut off again, both ways (its bridge subscribed to everything)."""
    scenario = {"phones": {"default": {"answer": 2.0, "decide_after": 4.0}}}
    async with live(scenario, flavor="oss") as (sandbox, engine, _):
        clock = sandbox.manual_clock
        transfer = await engine.start(flow("warm_transfer"), room="call-1")
        during_brief: list[tuple[str, bool, bool]] = []

        async def look(supervisor: str) -> None:
            await clock.sleep(DEPARTURE_GRACE_S + 1.0)
            during_brief.append(
                (
                    transfer.state,
                    sandbox.hears("call-1", CALLER, supervisor),
                    sandbox.hears("call-1", supervisor, CALLER),
                )
            )

        looking: list[asyncio.Task[None]] = []

        def on_transition(_: str, to_state: str, __: str) -> None:
            if to_state == "brief_supervisor" and transfer.supervisor and not looking:
                sandbox.reconnect("call-1", transfer.supervisor)
                looking.append(asyncio.ensure_future(look(transfer.supervisor)))

        transfer.add_listener(on_transition)
        await drive(sandbox, engine, transfer.outcome)
        outcome = await transfer.outcome
        assert (outcome.kind, len(outcome.attempts)) == ("merged", 1)
        assert during_brief == [("brief_supervisor", False, False)]
        (leg,) = [log for log in sandbox.phone_logs if log.direction == "outbound"]
        assert leg.received == ["INVITE", "ACK"]  # never hung up: still on the call


async def test_a_caller_reconnecting_on_hold_keeps_the_transfer_and_its_checkpoint() -> None:
    """The same reconnect on the caller's side: it used to end the transfer as
    `caller_hung_up` (a live caller's call then treated as over). The checkpoint the API
    wrote on the caller does not survive a rejoin: it is written again."""
    scenario = {"phones": {"default": {"answer": 3.0, "decide_after": 1.0}}}
    async with live(scenario, flavor="oss") as (sandbox, engine, _):
        clock = sandbox.manual_clock
        transfer = await engine.start(flow("warm_transfer"), room="call-1")
        seen: list[tuple[str, str]] = []

        async def look() -> None:
            await clock.sleep(DEPARTURE_GRACE_S + 0.5)
            member = sandbox.world.member("call-1", CALLER)
            assert member is not None
            seen.append((transfer.state, member.info.attributes.get("transfer.state", "")))

        looking: list[asyncio.Task[None]] = []

        def on_transition(_: str, to_state: str, __: str) -> None:
            if to_state == "dial_supervisor" and not looking:
                sandbox.reconnect("call-1", CALLER)
                looking.append(asyncio.ensure_future(look()))

        transfer.add_listener(on_transition)
        await drive(sandbox, engine, transfer.outcome)
        assert seen == [("dial_supervisor", "held")]
        assert (await transfer.outcome).kind == "merged"


async def test_a_departure_the_server_does_not_confirm_rings_no_one_else() -> None:
    """A `participant_disconnected` for a ringing leg that the server still lists (a stale
    or replayed event) used to ring the next phone of a chain while the first still rang."""
    scenario = {"phones": {"default": {"answer": 3.0, "on_brief": "accept"}}}
    async with live(scenario, flavor="oss") as (sandbox, engine, _):
        transfer = await engine.start(flow("supervisor_chain"), room="call-1")
        stale: list[str] = []

        def on_event(event: Event) -> None:
            who = event.participant.identity if event.participant else ""
            if event.kind == "participant_joined" and who.startswith("supervisor-"):
                stale.append(who)
                loop.call_soon(transfer.participant_left, "call-1", who)

        loop = asyncio.get_running_loop()
        sandbox.subscribe(on_event)
        await drive(sandbox, engine, transfer.outcome)
        assert len(stale) == 1
        assert (await transfer.outcome).kind == "merged"
        assert len([log for log in sandbox.phone_logs if log.direction == "outbound"]) == 1
