"""Catalogue A: the supervisor's leg fails in every way the catalogue lists.

Each case runs a real transfer against the sandbox over HTTP (the `livekit-api` client, a
manual clock), injects its fault through the scenario (scripted phones, API faults, lost
responses) or at a chosen moment (a hook), and then checks the global invariants
(`Rig.verify`): hold bounded, one live leg, no dial beyond the allowed attempts, nothing left
behind, one typed outcome, no canary in any output.

A8 (the SDK replaying a dial) is in `test_faults_replay.py`; A14 (the dial's request timeout
outlasting the ring) is checked there too, because the manual clock cannot make a real
client-side timeout happen.
"""

from __future__ import annotations

from typing import Any

import pytest
from livekit.protocol import models

from orchestrator.engine.presence import DEPARTURE_GRACE_S
from orchestrator.flow.model import Flow
from tests.reliability.cases import DIAL, PRIMARY, fault, phones, sip
from tests.reliability.harness import BUSINESS, CALLER, flow, warm
from tests.reliability.rig import Rig

CHAIN = "supervisor_chain"
OWNED_ONLY = {"caller_id_policy": "owned_only"}
REJECTED_BY_603 = "on_rejection: business_number\n  rejected_by: [403, 603]"

# id: (flow, scenario, rig options, (kind, reason or a set of acceptable reasons), dials)
CASES: dict[str, tuple[Flow | str, dict[str, Any], dict[str, Any], tuple[str, Any], int]] = {
    # A1: no answer, however it shows.
    "A1-no-answer": ("warm", phones({"answer": "no_answer"}), {}, ("returned", "no_answer"), 1),
    "A1-answers-after-ring-timeout": (
        "warm",
        phones({"answer": 40.0}),
        {},
        ("returned", "no_answer"),
        1,
    ),
    "A1-sip-408": ("warm", {"faults": [sip(408)]}, {}, ("returned", "no_answer"), 1),
    "A1-sip-487": ("warm", {"faults": [sip(487)]}, {}, ("returned", "no_answer"), 1),
    "A1-sip-480": (
        "warm",
        {"faults": [sip(480)]},
        {},
        ("returned", {"no_answer", "unavailable"}),
        1,
    ),
    # A2: busy.
    "A2-busy": ("warm", phones({"answer": "busy"}), {}, ("returned", "busy"), 1),
    "A2-sip-486": ("warm", {"faults": [sip(486)]}, {}, ("returned", "busy"), 1),
    "A2-sip-600": ("warm", {"faults": [sip(600)]}, {}, ("returned", "busy"), 1),
    "A2-busy-then-next-in-chain": (
        CHAIN,
        phones(None, **{PRIMARY: {"answer": "busy"}}),
        {},
        ("merged", None),
        2,
    ),
    # A3: declines are not retried.
    "A3-603-on-callers-number": (
        "warm",
        phones({"answer": "decline"}),
        {},
        ("returned", "declined"),
        1,
    ),
    # A carrier that refuses a caller ID with 603: the flow says so, and then it is redialled.
    "A4-603-rejected-by-the-flow": (
        flow("warm_transfer", ("on_rejection: business_number", REJECTED_BY_603)),
        {"faults": [sip(603)]},
        {},
        ("merged", None),
        2,
    ),
    "A3-603-on-business-number": (
        "warm",
        phones({"answer": "decline"}),
        {"caller_number": "anonymous"},
        ("returned", "declined"),
        1,
    ),
    "A3-declined-in-brief": (
        "warm",
        phones({"answer": 1.0, "on_brief": "decline"}),
        {},
        ("returned", "declined"),
        1,
    ),
    # A4: the carrier refuses the caller's number: one fallback redial, never a third dial.
    "A4-owned-only-trunk": ("warm", {"trunk": OWNED_ONLY}, {}, ("merged", None), 2),
    "A4-403-on-both-dials": (
        "warm",
        {"faults": [sip(403, times=2)]},
        {},
        ("returned", {"caller_id_rejected", "unavailable", "declined"}),
        2,
    ),
    "A4-twilio-32204-text": (
        "warm",
        {"faults": [sip(500, "From number not verified (Twilio 32204)")]},
        {},
        ("merged", None),
        2,
    ),
    "A4-telnyx-D35": (
        "warm",
        {"faults": [sip(403, "Caller Origination Number is Invalid D35")]},
        {},
        ("merged", None),
        2,
    ),
    "A4-no-fallback-in-flow": (
        warm(fallback=False),
        {"trunk": OWNED_ONLY},
        {},
        ("returned", "caller_id_rejected"),
        1,
    ),
    "A4-chain-owned-only": (CHAIN, {"trunk": OWNED_ONLY}, {}, ("merged", None), 2),
    # A5: the number does not exist: a config error, the caller back at once.
    "A5-sip-404": ("warm", {"faults": [sip(404)]}, {}, ("returned", "config_error"), 1),
    "A5-sip-484": ("warm", {"faults": [sip(484)]}, {}, ("returned", "config_error"), 1),
    "A5-sip-604": ("warm", {"faults": [sip(604)]}, {}, ("returned", "config_error"), 1),
    # A6: 5xx from the trunk or from LiveKit: bounded, inside the hold budget.
    "A6-sip-503": ("warm", {"faults": [sip(503)]}, {}, ("returned", "unavailable"), 1),
    "A6-twirp-internal": (
        "warm",
        {"faults": [fault(DIAL, "internal")]},
        {},
        ("returned", "unavailable"),
        1,
    ),
    "A6-twirp-unavailable-twice-in-chain": (
        CHAIN,
        {"faults": [fault(DIAL, "unavailable", times=2)]},
        {},
        ("merged", None),
        3,
    ),
    "A6-sip-500-on-every-dial": (
        CHAIN,
        {"faults": [sip(500, times=20)]},
        {},
        ("returned", "exhausted"),
        3,
    ),
    # A7: the dial's answer is lost: reconcile, never a blind redial.
    "A7-lost-answer-unavailable": (
        "warm",
        {"faults": [fault(DIAL, "unavailable", lose_response=True)]},
        {},
        ("merged", None),
        1,
    ),
    "A7-lost-answer-deadline": (
        "warm",
        {"faults": [fault(DIAL, "deadline_exceeded", lose_response=True)]},
        {},
        ("merged", None),
        1,
    ),
    "A7-lost-answer-late-pickup": (
        "warm",
        {
            **phones({"answer": 20.0}),
            "faults": [fault(DIAL, "internal", lose_response=True)],
        },
        {},
        ("merged", None),
        1,
    ),
    "A7-lost-answer-of-a-busy-call": (
        "warm",
        {**phones({"answer": "busy"}), "faults": [fault(DIAL, "internal", lose_response=True)]},
        {},
        ("returned", "busy"),
        1,
    ),
    "A7-lost-answer-of-an-unanswered-call": (
        "warm",
        {
            **phones({"answer": "no_answer"}),
            "faults": [fault(DIAL, "unavailable", lose_response=True)],
        },
        {},
        ("returned", {"no_answer", "unavailable"}),
        1,
    ),
    # A9: the supervisor answers, then hangs up while being briefed.
    "A9-hangs-up-in-brief": (
        "warm",
        phones({"answer": 1.0, "on_brief": "hangup"}),
        {},
        ("returned", "supervisor_left"),
        1,
    ),
    "A9-hangs-up-at-the-answer": (
        "warm",
        phones({"answer": 0.0, "on_brief": "hangup", "decide_after": 0.0}),
        {},
        ("returned", "supervisor_left"),
        1,
    ),
    "A9-hangs-up-then-next-in-chain": (
        CHAIN,
        phones(None, **{PRIMARY: {"answer": 1.0, "on_brief": "hangup"}}),
        {},
        ("merged", None),
        2,
    ),
    # A11: voicemail is never merged.
    "A11-voicemail": ("warm", phones({"answer": "voicemail"}), {}, ("returned", "voicemail"), 1),
    "A11-voicemail-then-next-in-chain": (
        CHAIN,
        phones(None, **{PRIMARY: {"answer": "voicemail"}}),
        {},
        ("merged", None),
        2,
    ),
    # A13: the brief's speech (TTS) or the answer screening fails.
    "A13-brief-speech-fails": (
        "warm",
        {},
        {"failing_media": {"brief": "raise"}},
        ("returned", "failed"),
        1,
    ),
    "A13-brief-speech-stalls": (  # and the supervisor, hearing nothing, does nothing
        warm(max_hold=30),
        {"phones": {"default": {"on_brief": "silent"}}},
        {"failing_media": {"brief": "stall"}},
        ("returned", "max_hold"),
        1,
    ),
    "A13-brief-speech-stalls-supervisor-accepts": (  # a key pressed during the brief wins
        warm(max_hold=30),
        {},
        {"failing_media": {"brief": "stall"}},
        ("merged", None),
        1,
    ),
    "A13-answer-screening-fails": (
        "warm",
        {},
        {"failing_media": {"screen_answer": "raise"}},
        ("returned", "failed"),
        1,
    ),
    "A13-hold-speech-fails": (
        "warm",
        {},
        {"failing_media": {"say_to_caller": "raise"}},
        ("returned", "failed"),
        0,
    ),
    "A13-hold-audio-fails": (
        "warm",
        {},
        {"failing_media": {"start_hold": "raise"}},
        ("returned", "failed"),
        0,
    ),
}


def _flow(spec: Flow | str) -> Flow:
    if isinstance(spec, Flow):
        return spec
    return warm() if spec == "warm" else flow(spec)


@pytest.mark.parametrize("case", sorted(CASES))
async def test_supervisor_leg_fault(case: str) -> None:
    spec, scenario, options, (kind, reason), dials = CASES[case]
    async with Rig(scenario, fault=case, **options) as rig:
        outcome = await rig.run(_flow(spec))
        reasons = reason if isinstance(reason, set) else {reason}
        assert (outcome.kind, outcome.reason in reasons) == (kind, True), outcome
        assert len(rig.dials()) == dials
        if kind != "merged":  # never merged after a failure, and the caller heard why
            assert _moves_of_supervisors(rig) == []
            if not options.get("failing_media"):
                assert rig.media.calls[-1].action == "say_to_caller"


def _moves_of_supervisors(rig: Rig) -> list[str]:
    return [
        r["rpc"]
        for r in rig.sandbox.requests
        if r["rpc"] == "RoomService.MoveParticipant"
        and r["request"]
        and r["request"].get("identity", "").startswith("supervisor-")
    ]


async def test_caller_id_fallback_presents_the_business_number() -> None:
    async with Rig({"trunk": OWNED_ONLY}, fault="A4-fallback-numbers") as rig:
        await rig.run(warm())
        assert [d["sip_number"] for d in rig.dials()] == [CALLER, BUSINESS]
        identities = [d["participant_identity"] for d in rig.dials()]
        assert len(set(identities)) == 2  # a new attempt key for the redial


@pytest.mark.parametrize(
    "reason",
    [
        models.DisconnectReason.USER_UNAVAILABLE,
        models.DisconnectReason.SIGNAL_CLOSE,
        models.DisconnectReason.JOIN_FAILURE,
    ],
    ids=["user-unavailable", "signal-close", "join-failure"],
)
async def test_supervisor_leaves_with_an_unusual_reason(reason: int) -> None:
    """A10: whatever the disconnect reason, the transfer completes; no stuck hold."""
    scenario = phones({"answer": 1.0, "on_brief": "silent"})
    async with Rig(scenario, fault=f"A10-{reason}") as rig:
        rig.on_state("brief_supervisor", lambda: rig.supervisor_leaves(reason))
        outcome = await rig.run(warm())
        assert (outcome.kind, outcome.reason) == ("returned", "supervisor_left")
        assert outcome.hold_seconds < 2.0 + DEPARTURE_GRACE_S


@pytest.mark.parametrize(
    ("setup", "answer"),
    # The caller hangs up at 2.5 s: the engine believes it once it lasted DEPARTURE_GRACE_S.
    [("max-hold", 15.0), ("cancel", 3.0), ("caller-left", 3.0 + DEPARTURE_GRACE_S)],
)
async def test_an_answer_after_we_gave_up_is_never_briefed(setup: str, answer: float) -> None:
    """A12: the phone picks up after the transfer gave up: no brief, no merge, no leg."""
    scenario: dict[str, Any] = phones({"answer": answer})
    if setup == "caller-left":
        scenario["caller"] = {"hangup_after": 2.5}
    async with Rig(scenario, fault=f"A12-{setup}") as rig:
        if setup == "cancel":
            rig.at(2.0, rig.cancel)
        outcome = await rig.run(warm(max_hold=10))
        assert outcome.kind != "merged"
        assert [
            c for c in rig.media.calls if c.action == "brief" and "hung up" not in c.text
        ] == []
        assert rig.monitor.max_live == 1
        statuses = [
            e.participant.attributes.get("sip.callStatus")
            for e in rig.monitor.events
            if e.participant is not None and e.participant.identity.startswith("supervisor-")
        ]
        assert "active" not in statuses
