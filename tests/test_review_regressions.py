"""Regressions from the first review: each input once crashed, hung, leaked or was accepted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator import FlowError, load_flow
from orchestrator.cli import app
from tests.conftest import BASE, problems_of


def test_huge_integer_is_a_problem_not_a_traceback() -> None:
    assert problems_of(BASE.replace("name: base", "name: base\nmax_hold: " + "1" * 5000)) == [
        "2:11: number is too large; flows use small numbers like 90"
    ]


@pytest.mark.parametrize("literal", ["1e400", "-1e999"])
def test_infinite_float(literal: str) -> None:
    assert problems_of(BASE.replace("name: base", f"name: base\nmax_hold: {literal}")) == [
        "2:11: number is too large; flows use small numbers like 90"
    ]


def test_a_key_spelled_like_pydantics_key_marker() -> None:
    found = problems_of(BASE + '"[key]": 1\n')
    assert found == [
        "12:1: unknown key with unusual characters in flow; allowed: caller_id, description, "
        "fallback, max_hold, merge_strategy, name, on_max_hold, start, steps, targets, trunk, "
        "version"
    ]


def test_a_step_name_spelled_like_the_key_marker() -> None:
    found = problems_of(BASE.replace("  back:", '  "[key]":'))
    assert found[0].startswith("11:3: name in steps: names are lowercase snake_case")


def test_a_key_named_like_the_step_type() -> None:
    found = problems_of(
        BASE.replace("{type: merge, next: leave}", "{type: merge, merge: 1, next: leave}")
    )
    assert found == [
        "9:29: unknown key 'merge' in steps.merge_call; allowed: description, max_visits, next, "
        "outcomes, timeout, type"
    ]


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_endless_file_is_read_only_up_to_the_cap() -> None:
    result = CliRunner().invoke(app, ["validate", "/dev/zero"])
    assert result.exit_code == 1
    assert "larger than 256 KiB" in result.stdout


@pytest.mark.parametrize(
    "display_name", ['"Boss\\nVia: evil"', '"Boss\\tx"', '"a\\u2028b"'], ids=["lf", "tab", "ls"]
)
def test_display_name_refuses_line_breaks_and_tabs(display_name: str) -> None:
    text = BASE.replace(
        'sup: {number: "+15105550100"}',
        f'sup: {{number: "+15105550100", display_name: {display_name}}}',
    )
    assert any("display_name may not contain" in p for p in problems_of(text))


def test_yaml_error_messages_do_not_quote_the_input() -> None:
    (problem,) = problems_of(BASE + "x: !pwnedpwned!x 1\n")
    assert "pwned" not in problem
    assert problem.startswith("12:4: invalid YAML: found undefined tag handle")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# a comment with \u202e inside\n" + BASE, "1:18: invisible character U+202E"),
        (
            BASE.replace(
                "back: {type: return_to_agent}", 'back: {type: return_to_agent, say: "\\u2028x"}'
            ),
            "11:38: steps.back.say: text may not",
        ),
    ],
    ids=["bidi-in-comment", "line-separator-escape"],
)
def test_invisible_characters(text: str, expected: str) -> None:
    assert problems_of(text)[0].startswith(expected)


def test_utf8_error_column_counts_characters() -> None:
    """Four two-byte characters, then a bad byte: column 18 in characters (22 in bytes)."""
    raw = BASE.replace("name: base", "name: base\ndescription: \u00e9\u00e9\u00e9\u00e9").encode()
    raw = raw.replace(
        "\u00e9\u00e9\u00e9\u00e9".encode(), "\u00e9\u00e9\u00e9\u00e9".encode() + b"\xff"
    )
    with pytest.raises(FlowError) as caught:
        load_flow(raw)
    assert (caught.value.problems[0].line, caught.value.problems[0].column) == (2, 18)


@pytest.mark.parametrize(
    ("change", "step"),
    [
        (
            ("{type: dial, to: [sup], next: brief_sup}", "{type: dial, to: [sup], next: back}"),
            "back",
        ),
        (("next: merge_call}", "next: bye}\n  bye: {type: hangup}"), "bye"),
    ],
    ids=["answered-then-returned", "accepted-then-hung-up"],
)
def test_terminal_steps_never_strand_an_answered_supervisor(
    change: tuple[str, str], step: str
) -> None:
    assert any(
        f"step '{step}' can run while an answered supervisor waits on the line" in p
        for p in problems_of(BASE.replace(*change))
    )


def test_version_true_is_not_one() -> None:
    assert problems_of(BASE.replace("name: base", "version: true\nname: base")) == [
        "1:10: version: must be a number, not true or false"
    ]


@pytest.mark.parametrize("name", ["note", "state", "end", "subgraph"])
def test_diagram_keywords_are_reserved(name: str) -> None:
    assert any(
        f"step name '{name}' is reserved" in p
        for p in problems_of(
            BASE.replace("  back:", f"  {name}:").replace("fallback: back", f"fallback: {name}")
        )
    )


def test_target_placeholder_only_where_there_is_a_target() -> None:
    text = BASE.replace(
        "back: {type: return_to_agent}",
        'back: {type: return_to_agent, say: "Sorry, {target} is busy"}',
    )
    assert problems_of(text) == [
        "11:38: steps.back.say: {target} is only known in brief and cold_transfer steps"
    ]


def test_long_text_is_counted_in_characters() -> None:
    text = BASE.replace('say: "Call from {caller_number}"', 'say: "' + "x" * 2001 + '"')
    assert problems_of(text) == ["8:33: steps.brief_sup.say: must have at most 2000 characters"]


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
