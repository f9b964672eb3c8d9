"""YAML syntax mistakes in plain words, positioned where the mistake starts."""

from __future__ import annotations

import pytest

from orchestrator.flow.reader import ReadError, read_yaml

HEAD = "version: 1\nname: x\nsteps:\n  a:\n    type: announce\n"


def problem_of(text: str) -> tuple[int, int, str]:
    with pytest.raises(ReadError) as caught:
        read_yaml(text.encode())
    problem = caught.value.problem
    return problem.line, problem.column, problem.message


def test_a_quote_left_open_is_reported_where_it_opens_not_where_yaml_trips() -> None:
    # The quote opened on line 6 is closed by the next quote, on line 30: PyYAML reports
    # line 30; the mistake is on line 6.
    filler = "".join(f"  s{i}:\n    type: exit\n" for i in range(10))
    text = HEAD + '    say: "Hello there\n    next: b\n' + filler + '  b:\n    say: "Bye"\n'
    line, column, message = problem_of(text)
    assert (line, column) == (6, 10)
    assert message.startswith('a quoted text starts here with a double quote (") and never ends')
    assert "close the quote" in message


def test_a_quote_open_to_the_end_of_the_file() -> None:
    assert problem_of(HEAD + "    say: 'Hello\n    next: b\n")[:2] == (6, 10)


def test_a_colon_in_unquoted_text_asks_for_quotes() -> None:
    line, column, message = problem_of(HEAD + "    say: Note: we are closed\n    next: b\n")
    assert (line, column) == (6, 10)
    assert "an unquoted text cannot contain ': '" in message
    assert "put the whole text in quotes" in message


@pytest.mark.parametrize(
    ("text", "position"),
    [
        (HEAD + "   say: hi\n    next: b\n", (6, 4)),  # between two levels
        (HEAD + "      say: hi\n", (6, 7)),  # deeper than its neighbours
        ("version: 1\nname: x\n  steps: 1\n", (3, 3)),
    ],
)
def test_bad_indentation_names_the_line(text: str, position: tuple[int, int]) -> None:
    line, column, message = problem_of(text)
    assert (line, column) == position
    assert "indentation" in message
    assert "same column" in message


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        (
            HEAD.replace("announce", "dial") + "    to: [a, b\n    next: b\n",
            (6, 9),
            "a list opened with [",
        ),
        (HEAD + "    headers: {a: b\n    next: b\n", (6, 14), "a mapping opened with {"),
    ],
)
def test_an_unclosed_bracket_is_reported_where_it_opens(
    text: str, position: tuple[int, int], words: str
) -> None:
    line, column, message = problem_of(text)
    assert (line, column) == position
    assert message.startswith(words)
    assert "not closed" in message


def test_a_bracket_open_at_the_end_of_the_file_names_its_line() -> None:
    line, column, message = problem_of("a: 1\nb: [1, 2\n")
    assert (line, column) == (3, 1)
    assert "opened with [ on line 2" in message


def test_a_key_without_colon() -> None:
    line, column, message = problem_of(HEAD + "    say: Hello\n    next b\n  b:\n    type: exit\n")
    assert (line, column) == (7, 5)
    assert "a key needs ': ' after it" in message


def test_tabs_and_duplicate_keys_keep_their_messages() -> None:
    assert problem_of(HEAD + "\tsay: hi\n")[:3] == (
        6,
        1,
        "tab used for indentation; indent with spaces",
    )
    assert problem_of("name: a\nname: b\n") == (2, 1, "duplicate key 'name' (first set on line 1)")


def test_messages_never_repeat_the_input() -> None:
    message = problem_of(HEAD + "    say: Secret: value\n")[2]
    assert "Secret" not in message
