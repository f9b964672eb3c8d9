"""The pure decisions, and their agreement with what the engine writes on the caller."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator.livekit import Participant
from orchestrator.livekit.dispatches import Dispatch
from orchestrator.watchdog.decide import (
    CLAIM_KEY,
    RECOVERABLE_STATES,
    Claim,
    Loss,
    Skip,
    assess,
    confirm,
    metadata_for,
    stale_claims,
)

ENGINE = Path(__file__).resolve().parents[2] / "orchestrator" / "engine"
CALLER = Participant(
    "sip_caller", "sip", {"transfer.id": "abcdefghijkl", "transfer.state": "briefing"}
)


def test_the_recoverable_states_are_the_ones_the_engine_writes() -> None:
    """Every checkpoint state the engine writes (and no other) makes a loss."""
    source = "\n".join(p.read_text() for p in ENGINE.glob("*.py"))
    written = set(re.findall(r"(?:checkpoint|progress|progress_soon)\(t, \"(\w+)\"\)", source))
    written |= set(re.findall(r"\(transfer_id, \"(\w+)\", consult\)", source))  # the claim
    assert written == RECOVERABLE_STATES


@pytest.mark.parametrize(
    "value",
    ["", "x", "[]", "{}", '{"t": "a"}', '{"t":"a","g":"x","l":"b","w":"c"}', "null"],
)
def test_a_claim_we_did_not_write_is_none(value: str) -> None:
    assert Claim.parse(value) is None


def test_a_claim_round_trips() -> None:
    claim = Claim("abcdefghijkl", 2, "agent with spaces", "w1")
    assert Claim.parse(claim.render()) == claim


@pytest.mark.parametrize(
    ("attributes", "why"),
    [
        ({}, "no_checkpoint"),
        ({"transfer.id": "abcdefghijkl"}, "no_checkpoint"),
        ({"transfer.id": "abcdefghijkl", "transfer.state": "finished"}, "no_checkpoint"),
        ({"transfer.id": "4155552671", "transfer.state": "held"}, "no_checkpoint"),
    ],
)
def test_no_checkpoint(attributes: dict[str, str], why: str) -> None:
    found = assess("r", [Participant("c", "sip", attributes)], "agent-1", "w")
    assert found == Skip(why)  # type: ignore[arg-type]


def test_the_departed_agent_still_listed_does_not_hide_the_loss() -> None:
    listed = [CALLER, Participant("agent-1", "agent")]
    found = assess("r", listed, "agent-1", "w")
    assert isinstance(found, Loss)
    assert found.claim == Claim("abcdefghijkl", 1, "agent-1", "w")
    assert assess("r", [*listed, Participant("agent-2", "agent")], "agent-1", "w") == Skip(
        "agent_present"
    )
    # ...but after the claim settled, it is there again: it reconnected.
    assert confirm(found, listed) == Skip("agent_present")


def test_a_claim_overwritten_by_another_watchdog() -> None:
    found = assess("r", [CALLER], "agent-1", "mine")
    assert isinstance(found, Loss)
    theirs = Claim("abcdefghijkl", 1, "agent-1", "theirs").render()
    caller = Participant(CALLER.identity, "sip", {**CALLER.attributes, CLAIM_KEY: theirs})
    assert confirm(found, [caller]) == Skip("other_watchdog")
    mine = Participant(
        CALLER.identity, "sip", {**CALLER.attributes, CLAIM_KEY: found.claim.render()}
    )
    assert confirm(found, [mine]) == found


def test_a_claim_of_an_older_transfer_starts_over() -> None:
    old = Claim("zzzzzzzzzzzz", 3, "agent-0", "w").render()
    caller = Participant(CALLER.identity, "sip", {**CALLER.attributes, CLAIM_KEY: old})
    found = assess("r", [caller], None, "w")
    assert isinstance(found, Loss)
    assert (found.claim.generation, found.claim.loss) == (1, "sweep-1")


def test_metadata_of_the_lost_job() -> None:
    dispatches = [
        Dispatch("AD_1", "support", "first", ("agent-1",)),
        Dispatch("AD_2", "other", "no", ()),
        Dispatch("AD_3", "support", "last", ()),
    ]
    assert metadata_for(dispatches, "support", "agent-1") == "first"
    assert metadata_for(dispatches, "support", "agent-9") == "last"
    assert metadata_for(dispatches, "nobody", "agent-1") == ""


def test_stale_claims() -> None:
    claim = Claim("abcdefghijkl", 1, "agent-1", "w").render()
    live = Participant("c1", "sip", {**CALLER.attributes, CLAIM_KEY: claim})
    done = Participant("c2", "sip", {CLAIM_KEY: claim})
    other = Participant(
        "c3", "sip", {**CALLER.attributes, "transfer.id": "mnopqrstuvwx", CLAIM_KEY: claim}
    )
    foreign = Participant("c4", "sip", {CLAIM_KEY: "not ours"})
    assert stale_claims([live, done, other, foreign]) == ["c2", "c3"]


@pytest.mark.parametrize("kind", ["agent", "other"])
def test_only_a_sip_participant_is_a_caller(kind: str) -> None:
    """A checkpoint on a participant that is not a phone leg (a browser user, another agent)
    is no caller's: nothing to recover, and its claim is removed."""
    impostor = Participant("web-user", kind, dict(CALLER.attributes))  # type: ignore[arg-type]
    assert assess("r", [impostor], "agent-1", "w") == Skip("no_checkpoint")
    claim = Claim("abcdefghijkl", 1, "agent-1", "w").render()
    claimed = Participant("web-user", kind, {**CALLER.attributes, CLAIM_KEY: claim})  # type: ignore[arg-type]
    assert stale_claims([claimed]) == ["web-user"]
