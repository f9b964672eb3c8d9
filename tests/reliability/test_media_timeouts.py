"""Media that never answers (a `say`, the hold, a brief) does not stall the transfer."""

from __future__ import annotations

from typing import Any

import pytest

from tests.reliability.cases import HAPPY
from tests.reliability.harness import warm
from tests.reliability.rig import Rig


# A promise an attacker broke (issue 14; was tests/reliability/test_broken_promises.py).
@pytest.mark.parametrize("call", ["say_to_caller", "start_hold", "brief", "screen_answer"])
async def test_media_that_never_answers_does_not_stall_the_transfer(call: str) -> None:
    async with Rig(HAPPY, fault=f"media-stalls-{call}", failing_media={call: "stall"}) as rig:
        outcome = await rig.run(warm(max_hold=60))
        expected: dict[str, Any] = {
            "say_to_caller": ("returned", "failed"),
            "start_hold": ("returned", "failed"),
            "brief": ("merged", None),  # the supervisor's 1 decides while it hangs
            "screen_answer": ("merged", None),  # unscreened counts as a person, as the worker
        }
        assert (outcome.kind, outcome.reason) == expected[call]
        assert rig.clock.now() < 200


# A promise an attacker broke (issue 14; was tests/reliability/test_broken_promises.py).
async def test_a_brief_that_never_ends_fails_once_its_text_had_time() -> None:
    silent = {"phones": {"default": {"answer": 1.0, "on_brief": "silent"}}}
    async with Rig(
        silent, fault="media-stalls-brief-silent", failing_media={"brief": "stall"}
    ) as rig:
        outcome = await rig.run(warm())
        assert (outcome.kind, outcome.reason) == ("returned", "failed")
        assert outcome.hold_seconds < 60
