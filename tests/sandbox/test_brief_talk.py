"""A scripted phone's `on_brief`: the old words, or a conversation (ask, then decide)."""

from __future__ import annotations

import pytest

from orchestrator.errors import FlowError
from orchestrator.sandbox.scenario import BriefTalk, load_scenario


def test_the_old_words_still_mean_a_key_or_a_hang_up() -> None:
    phone = load_scenario(b"phones: {default: {on_brief: decline}}").phone("+15105550100")
    assert (phone.reaction, phone.asks, phone.keypad) == ("decline", [], True)


def test_a_conversation_asks_then_decides_by_voice_unless_told_keypad() -> None:
    scenario = load_scenario(
        b"phones:\n"
        b'  default: {on_brief: {ask: ["how long have they waited?"], then: accept}}\n'
        b'  "+15105550101": {on_brief: {then: decline, by: keypad}}\n'
    )
    talker = scenario.phone("+15105550100")
    assert isinstance(talker.on_brief, BriefTalk)
    assert (talker.reaction, talker.asks, talker.keypad) == (
        "accept",
        ["how long have they waited?"],
        False,
    )
    presser = scenario.phone("+15105550101")
    assert (presser.reaction, presser.asks, presser.keypad) == ("decline", [], True)


def test_a_bad_reaction_is_positioned() -> None:
    with pytest.raises(FlowError) as caught:
        load_scenario(b"phones:\n  default: {on_brief: {ask: [hi], then: maybe}}\n")
    (problem,) = caught.value.problems
    assert problem.line == 2
    assert "then" in problem.message
