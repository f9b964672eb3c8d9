"""The strict YAML reader: positions, safety rules and YAML 1.1 traps."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from orchestrator import FlowError, load_flow
from orchestrator.cli import app
from orchestrator.flow.reader import MAX_BYTES, ReadError, read_yaml
from tests.conftest import BASE, problems_of


def error_of(raw: bytes) -> tuple[int, int, str]:
    with pytest.raises(ReadError) as caught:
        read_yaml(raw)
    p = caught.value.problem
    return p.line, p.column, p.message


class TestScalars:
    def test_yaml_11_traps_stay_text(self) -> None:
        """NO, 0123, 12:30:00, 1_000, yes and on are not booleans or numbers here."""
        doc = read_yaml(b"a: NO\nb: 0123\nc: 12:30:00\nd: 1_000\ne: yes\non: off\nf: .inf\n")
        assert doc.data == {
            "a": "NO",
            "b": "0123",
            "c": "12:30:00",
            "d": "1_000",
            "e": "yes",
            "on": "off",
            "f": ".inf",
        }

    def test_core_scalars(self) -> None:
        doc = read_yaml(b"a: 12\nb: -1.5\nc: true\nd: null\ne: ~\nf: '12'\ng: +15551234567\n")
        assert doc.data == {
            "a": 12,
            "b": -1.5,
            "c": True,
            "d": None,
            "e": None,
            "f": "12",
            "g": 15551234567,
        }

    def test_block_scalar_is_text(self) -> None:
        assert read_yaml(b"say: |\n  line one\n  line two\n").data == {
            "say": "line one\nline two\n"
        }


class TestPositions:
    def test_values_and_keys_are_positioned(self) -> None:
        doc = read_yaml(b"steps:\n  hold:\n    type: hold\n    next: [a, b]\n")
        assert doc.values[("steps", "hold", "type")] == (3, 11)
        assert doc.keys[("steps", "hold", "next")] == (4, 5)
        assert doc.values[("steps", "hold", "next", 1)] == (4, 15)

    def test_position_falls_back_to_nearest_parent(self) -> None:
        doc = read_yaml(b"steps:\n  hold: {type: hold}\n")
        assert doc.position(("steps", "hold", "missing")) == (2, 9)


class TestRefusals:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            pytest.param(b"a: &x 1\nb: *x\n", (1, 4, "anchors"), id="anchor"),
            pytest.param(b"a: *x\n", (1, 4, "aliases"), id="alias"),
            pytest.param(b"a: !!python/name:os.system x\n", (1, 4, "tags"), id="python-tag"),
            pytest.param(b"a: !!str 1\n", (1, 4, "tags"), id="str-tag"),
            pytest.param(
                b"a: 1\na: 2\n", (2, 1, "duplicate key 'a' (first set on line 1)"), id="dup"
            ),
            pytest.param(b"? [a, b]\n: 1\n", (1, 3, "keys must be plain names"), id="complex-key"),
            pytest.param(b"a:\n\t- 1\n", (2, 1, "tab used for indentation"), id="tab"),
            pytest.param(b"a: b\x00\n", (1, 5, "control character U+0000"), id="nul"),
            pytest.param(b"a: \xc2\x85\xc2\x9b\n", (1, 4, "control character U+0085"), id="c1"),
            pytest.param(b"a: 1\nb: caf\xe9\n", (2, 7, "not valid UTF-8"), id="latin-1"),
            pytest.param(b"\xef\xbb\xbfa: 1\n", (1, 1, "byte-order mark"), id="bom"),
            pytest.param(b"", (1, 1, "the file is empty"), id="empty"),
            pytest.param(b"a: [1, 2\n", (2, 1, "invalid YAML"), id="syntax"),
        ],
    )
    def test_refused_with_position(self, raw: bytes, expected: tuple[int, int, str]) -> None:
        line, column, message = error_of(raw)
        assert (line, column) == expected[:2]
        assert expected[2] in message

    def test_size_cap_before_parsing(self) -> None:
        assert "larger than 256 KiB" in error_of(b"a: " + b"x" * MAX_BYTES)[2]

    def test_deep_nesting_is_refused_without_recursion_error(self) -> None:
        assert "nesting is deeper" in error_of(b"a: " + b"[" * 10_000 + b"]" * 10_000)[2]

    def test_node_cap(self) -> None:
        assert "more than 20000 values" in error_of(b"a: [" + b"1," * 60_000 + b"1]")[2]

    def test_yaml_errors_do_not_echo_raw_characters(self) -> None:
        message = error_of("a: 'x\nb: \u202e\x1b".encode())[2]
        assert "\x1b" not in message
        assert "\u202e" not in message

    @pytest.mark.parametrize("char", ["\x0b", "\x0c", "\x1c", "\r", "\u2028"])
    def test_line_break_lookalikes_are_refused(self, char: str) -> None:
        """Characters some tools treat as line breaks would shift every position after them."""
        assert error_of(f"a: 1\nb: x{char}y\n".encode())[:2] == (2, 5)


# Found in the first review (was tests/test_review_regressions.py).
def test_huge_integer_is_a_problem_not_a_traceback() -> None:
    assert problems_of(BASE.replace("name: base", "name: base\nmax_hold: " + "1" * 5000)) == [
        "2:11: number is too large; flows use small numbers like 90"
    ]


# Found in the first review (was tests/test_review_regressions.py).
@pytest.mark.parametrize("literal", ["1e400", "-1e999"])
def test_infinite_float(literal: str) -> None:
    assert problems_of(BASE.replace("name: base", f"name: base\nmax_hold: {literal}")) == [
        "2:11: number is too large; flows use small numbers like 90"
    ]


# Found in the first review (was tests/test_review_regressions.py).
@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_endless_file_is_read_only_up_to_the_cap() -> None:
    result = CliRunner().invoke(app, ["validate", "/dev/zero"])
    assert result.exit_code == 1
    assert "larger than 256 KiB" in result.stdout


# Found in the first review (was tests/test_review_regressions.py).
def test_yaml_error_messages_do_not_quote_the_input() -> None:
    (problem,) = problems_of(BASE + "x: !pwnedpwned!x 1\n")
    assert "pwned" not in problem
    assert problem.startswith("12:4: invalid YAML: found undefined tag handle")


# Found in the first review (was tests/test_review_regressions.py).
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


# Found in the first review (was tests/test_review_regressions.py).
def test_utf8_error_column_counts_characters() -> None:
    """Four two-byte characters, then a bad byte: column 18 in characters (22 in bytes)."""
    raw = BASE.replace("name: base", "name: base\ndescription: \u00e9\u00e9\u00e9\u00e9").encode()
    raw = raw.replace(
        "\u00e9\u00e9\u00e9\u00e9".encode(), "\u00e9\u00e9\u00e9\u00e9".encode() + b"\xff"
    )
    with pytest.raises(FlowError) as caught:
        load_flow(raw)
    assert (caught.value.problems[0].line, caught.value.problems[0].column) == (2, 18)
