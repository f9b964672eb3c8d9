"""The flow loader's own refusals: unknown keys however they are spelled, long texts counted in
characters, and a cap on how many problems one file reports."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import BASE, problems_of


# Found in the first review (was tests/test_review_regressions.py).
def test_a_key_spelled_like_pydantics_key_marker() -> None:
    found = problems_of(BASE + '"[key]": 1\n')
    assert found == [
        "12:1: unknown key with unusual characters in flow; allowed: caller_id, description, "
        "fallback, max_hold, merge_strategy, name, on_max_hold, schedules, start, steps, "
        "targets, trunk, version"
    ]


# Found in the first review (was tests/test_review_regressions.py).
def test_a_key_named_like_the_step_type() -> None:
    found = problems_of(
        BASE.replace("{type: merge, next: leave}", "{type: merge, merge: 1, next: leave}")
    )
    assert found == [
        "9:29: unknown key 'merge' in steps.merge_call; allowed: description, max_visits, next, "
        "outcomes, timeout, type"
    ]


# Found in the first review (was tests/test_review_regressions.py).
def test_long_text_is_counted_in_characters() -> None:
    text = BASE.replace('say: "Call from {caller_number}"', 'say: "' + "x" * 2001 + '"')
    assert problems_of(text) == ["8:33: steps.brief_sup.say: must have at most 2000 characters"]


# Found in the first review (was tests/test_review_regressions.py).
def test_many_unknown_references_are_capped_and_cheap(tmp_path: Path) -> None:
    """1,000 bad references with long, similar names: 101 lines, hints for the first few only."""
    long = "a" * 55
    steps = "".join(
        f"  {long}{i:04d}: {{type: announce, say: Hi, next: {long}x{i:03d}}}\n"
        for i in range(1000)
    )
    text = f"name: many\nfallback: {long}0000\nsteps:\n{steps}"
    found = problems_of(text)
    assert len(found) == 101
    assert found[-1].endswith("... and 900 more problems; fix these first")
    assert sum("did you mean" in p for p in found) <= 10
