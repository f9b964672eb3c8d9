"""The engine end to end: the shipped flows through LiveKit's own server and SIP bridge, with
sipp phones (and, for comparison, through the sandbox, which must tell the same story).

The open-source server has no MoveParticipant, so every merge is `in_room`. Each scenario
asserts the typed outcome, what the phones received on the wire, and that nothing is left
(`Run.leaks`: rooms, checkpoints, supervisor legs, phones still in a call). On the real stack
the media is checked too: the RTP that reached the phones.
"""

from __future__ import annotations

import asyncio
import time

from livekit import api

from orchestrator.sandbox.scenario import PhoneSpec
from tests.e2e.harness.figures import FIGURES
from tests.e2e.harness.real import RealTarget
from tests.e2e.harness.rtp import Heard
from tests.e2e.harness.targets import BUSINESS, CALLER, CALLER_ID, SUPERVISOR, Target
from tests.e2e.harness.transfers import Run, flow, run

BACKUP = "+15105550101"
TEAM_LEAD = "+15105550102"
ACCEPTS = PhoneSpec(answer=1.0, on_brief="accept", decide_after=1.5)


def preserved(result: Run) -> list[str]:
    """The From users of the INVITEs dialled showing the caller's number (figures)."""
    shown = [
        call.from_user
        for call, attempt in zip(result.calls, result.outcome.attempts, strict=True)
        if attempt.caller_id == "caller"
    ]
    FIGURES.invites(shown, CALLER)
    return shown


class Ears:
    """While the supervisor is briefed: whether LiveKit sends the caller the supervisor's
    audio, or the supervisor the caller's, asked of the server every 0.2 s (seconds after
    the brief began, and what)."""

    def __init__(self, room: str) -> None:
        self.room = room
        self.heard: list[tuple[float, str]] = []
        self.samples = 0
        self.stop = asyncio.Event()

    async def __call__(self, target: Target) -> None:
        began = time.monotonic()
        while not self.stop.is_set():
            listing = await target.lk.room.list_participants(
                api.ListParticipantsRequest(room=self.room)
            )
            legs = [p.identity for p in listing.participants if p.identity.startswith("sup")]
            for leg in legs:
                at = round(time.monotonic() - began, 2)
                if await target.subscribed(self.room, CALLER_ID, leg):
                    self.heard.append((at, "caller heard the supervisor"))
                if await target.subscribed(self.room, leg, CALLER_ID):
                    self.heard.append((at, "the supervisor heard the caller"))
            self.samples += 1
            await asyncio.sleep(0.2)

    async def until_merge(self, target: Target) -> None:
        self.stop.set()


async def _media_after(heard: Heard | None, since: float, seconds: float = 2.0) -> int:
    """Loud packets a phone received in the `seconds` after `since`."""
    await asyncio.sleep(max(since + seconds - time.monotonic(), 0))
    return heard.loud(since=since, until=since + seconds) if heard else 0


async def test_warm_transfer_merges(target: Target) -> None:
    room = "warm-merge"
    ears = Ears(room)
    result = await run(
        target,
        flow("warm_transfer"),
        room=room,
        phones={SUPERVISOR: ACCEPTS},
        on_step={"brief_supervisor": ears, "merge_call": ears.until_merge},
    )
    assert (result.outcome.kind, result.outcome.reason) == ("merged", None)
    assert preserved(result) == [CALLER]
    assert [c.received for c in result.calls] == [("INVITE", "ACK")]
    (leg,) = [p for p in result.participants if p.startswith("supervisor-")]
    # The agent stays, publishing nothing, following the call until one side hangs up.
    assert result.participants == sorted([CALLER_ID, "agent", leg])
    deadline = time.monotonic() + 5  # the server drops its down track just after the unpublish
    while await target.subscribed(room, CALLER_ID, "agent"):
        assert time.monotonic() < deadline, "the caller still gets the agent's track"
        await asyncio.sleep(0.05)
    assert result.leaks == []
    actions = [c.action for c in result.media.calls]
    assert actions == ["say_to_caller", "start_hold", "brief", "stop_hold", "agent_leave"]
    # Before the merge nobody heard anybody, as the server lists it; after, both ways. Not
    # even at the answer: the leg could not subscribe while it rang (engine/in_room.py).
    assert ears.samples > 0
    assert ears.heard == []
    assert await target.subscribed(room, CALLER_ID, leg)
    assert await target.subscribed(room, leg, CALLER_ID)
    if isinstance(target, RealTarget):
        await _real_media(target, result)


async def _real_media(target: RealTarget, result: Run) -> None:
    """The RTP that reached the phones: the caller heard no sound before the merge (the
    agent's track is silent; only the supervisor's phone sends a tone), then both heard
    each other."""
    assert target.caller is not None
    assert target.carrier is not None
    caller, supervisor = target.caller.heard, target.carrier.heard(SUPERVISOR)
    assert caller is not None
    assert supervisor is not None
    merged = result.entered["agent_leaves"]
    # LiveKit's SIP bridge relays a digit pressed in the room to every other SIP phone in
    # it: the caller's phone gets the supervisor's "1" (a README limit of `in_room`).
    assert caller.events == [1]
    assert caller.loud(until=result.entered["merge_call"]) == 0
    # Nor did the supervisor's phone get the caller's side before the merge (before the
    # leg was kept from subscribing while it rang, it did from the answer until the
    # engine's cut applied): from its first packet to its last loud one, none.
    last = supervisor.last_loud(until=result.entered["merge_call"])
    window = last - supervisor.first if last is not None else 0.0
    FIGURES.window(window)
    assert last is None, f"{window * 1000:.0f} ms of the caller's side before the merge"
    assert await _media_after(caller, merged) > 20
    assert await _media_after(supervisor, merged) > 20


async def test_caller_id_refused_by_the_carrier(target: Target) -> None:
    """403 to the caller's number, then exactly one redial showing the business number."""
    result = await run(
        target,
        flow("warm_transfer"),
        room="warm-403",
        phones={SUPERVISOR: ACCEPTS},
        owned_only=True,
    )
    assert (result.outcome.kind, result.outcome.reason) == ("merged", None)
    assert [c.from_user for c in result.calls] == [CALLER, BUSINESS]
    assert preserved(result) == [CALLER]
    assert result.calls[0].received == ("INVITE", "ACK")
    assert [a.sip_status for a in result.outcome.attempts] == [403, None]
    assert result.leaks == []


async def test_busy(target: Target) -> None:
    result = await run(
        target,
        flow("warm_transfer"),
        room="warm-busy",
        phones={SUPERVISOR: PhoneSpec(answer="busy")},
    )
    assert (result.outcome.kind, result.outcome.reason) == ("returned", "busy")
    assert result.outcome.sip_status == 486
    assert [c.received for c in result.calls] == [("INVITE", "ACK")]
    assert result.participants == sorted([CALLER_ID, "agent"])
    assert result.leaks == []


async def test_decline_at_the_invite(target: Target) -> None:
    """603 Decline is the supervisor declining on their phone, even while the caller's number
    is shown: it is not redialled (one INVITE), and never read as a lost API grant."""
    result = await run(
        target,
        flow("warm_transfer"),
        room="warm-603",
        phones={SUPERVISOR: PhoneSpec(answer="decline")},
    )
    assert (result.outcome.kind, result.outcome.reason) == ("returned", "declined")
    assert result.outcome.sip_status == 603
    assert [c.from_user for c in result.calls] == [CALLER]
    assert [c.received for c in result.calls] == [("INVITE", "ACK")]
    assert result.leaks == []


async def test_no_answer(target: Target) -> None:
    short = flow("warm_transfer", dial_supervisor={"ring_timeout": 4})
    result = await run(
        target, short, room="warm-silent", phones={SUPERVISOR: PhoneSpec(answer="no_answer")}
    )
    assert (result.outcome.kind, result.outcome.reason) == ("returned", "no_answer")
    assert [c.received for c in result.calls] == [("INVITE", "CANCEL")]
    assert result.leaks == []


async def test_supervisor_hangs_up_during_the_brief(target: Target) -> None:
    phone = PhoneSpec(answer=1.0, on_brief="hangup", decide_after=1.5)
    result = await run(target, flow("warm_transfer"), room="warm-bye", phones={SUPERVISOR: phone})
    assert (result.outcome.kind, result.outcome.reason) == ("returned", "supervisor_left")
    assert [c.received for c in result.calls] == [("INVITE", "ACK")]  # it sent the BYE
    assert result.leaks == []


async def test_caller_hangs_up_during_the_brief(target: Target) -> None:
    silent = PhoneSpec(answer=1.0, on_brief="silent")
    result = await run(
        target,
        flow("warm_transfer"),
        room="warm-gone-2",
        phones={SUPERVISOR: silent},
        on_step={"brief_supervisor": lambda t: t.hang_up_caller()},
    )
    assert result.outcome.kind == "caller_hung_up"
    assert [c.received for c in result.calls] == [("INVITE", "ACK", "BYE")]
    notices = [c.text for c in result.media.calls if c.action == "brief"]
    assert "hung up" in notices[-1]  # the supervisor was told before the BYE
    assert result.leaks == []


async def test_supervisor_chain(target: Target) -> None:
    """Busy, then no answer, then the team lead (whose desk phone gets the extension
    digits) accepts. Every INVITE shows the caller's number, with a Diversion header."""
    chain = flow("supervisor_chain")
    backup = chain.targets["backup"].model_copy(update={"ring_timeout": 3})
    chain = chain.model_copy(update={"targets": {**chain.targets, "backup": backup}})
    result = await run(
        target,
        chain,
        room="chain",
        phones={
            SUPERVISOR: PhoneSpec(answer="busy"),
            BACKUP: PhoneSpec(answer="no_answer"),
            TEAM_LEAD: PhoneSpec(answer=1.0, on_brief="accept", decide_after=4.0),
        },
    )
    assert (result.outcome.kind, result.outcome.reason) == ("merged", None)
    assert [c.number for c in result.calls] == [SUPERVISOR, BACKUP, TEAM_LEAD]
    assert preserved(result) == [CALLER, CALLER, CALLER]
    assert [c.received for c in result.calls] == [
        ("INVITE", "ACK"),
        ("INVITE", "CANCEL"),
        ("INVITE", "ACK"),
    ]
    assert result.leaks == []
    if isinstance(target, RealTarget):
        assert target.carrier is not None
        for call in result.calls:
            assert call.headers is not None
            assert call.headers.get("diversion") == f"<tel:{BUSINESS}>;reason=unconditional"
        assert result.calls[2].headers
        assert result.calls[2].headers["x-transfer-reason"] == ("escalation")
        lead = target.carrier.heard(TEAM_LEAD)
        assert lead is not None
        assert lead.events[:3] == [4, 2, 11]


async def test_cold_transfer(target: Target) -> None:
    result = await run(target, flow("cold_transfer"), room="cold", phones={})
    # The open-source server answers a REFER with an empty message: taken, not confirmed.
    assert (result.outcome.kind, result.outcome.reason) == ("cold_transferred", "unconfirmed")
    await target.until(
        lambda: target.caller_received() == ("REFER", "BYE"), 10, "the REFER, then BYE"
    )
    if isinstance(target, RealTarget):
        assert target.caller is not None
        (refer,) = target.caller.received("REFER")
        assert refer.headers["refer-to"].strip("<>") == "tel:+15105550199"
    assert result.leaks == []
