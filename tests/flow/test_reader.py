"""The strict YAML reader: positions, safety rules and YAML 1.1 traps."""

from __future__ import annotations

import pytest

from orchestrator.flow.reader import MAX_BYTES, ReadError, read_yaml


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
