"""Numbers written with escaped separators, or right after a percent-escape (issue 20
follow-up, M2 and M3): a value logged by its `repr`, a JSON text and a URL-encoded body show
a number's separators as escapes (`415\\xa0555\\xa02671`), and a percent-escape ending in a
digit (`%22`) once hid the number after it. Every test of a number here failed before."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from orchestrator.masking import mask_numbers


@dataclass
class Leg:
    to: str


ESCAPED = [
    pytest.param(repr(ValueError("bad 415\u00a0555\u00a02671")), "ValueError('bad 41***71')"),
    pytest.param(repr(b"415\t555\t2671"), "b'41***71'", id="bytes-tabs"),
    pytest.param(repr("415\u00a0555\u00a02671".encode()), "b'41***71'", id="bytes-utf8-nbsp"),
    pytest.param(repr(Leg("415\u202f555\u202f2671")), "Leg(to='41***71')", id="dataclass-u202f"),
    pytest.param(
        json.dumps({"to": "+1\u00a0415\u00a0555\u00a02671"}), '{"to": "+1415***2671"}', id="json"
    ),
    pytest.param(json.dumps("415\u2011555\u20112671"), '"41***71"', id="json-u2011"),
    pytest.param(json.dumps("415\n555\n2671"), '"41***71"', id="json-line-breaks"),
    pytest.param(repr("415\x85555\x852671"), "'41***71'", id="repr-x85"),
    pytest.param('"415\\u00A0555\\xA02671\\U00A0"', '"41***71\\U00A0"', id="upper-case-hex"),
    pytest.param(
        repr(repr("+1\u00a0415\u00a0555\u00a02671")), "\"'+1415***2671'\"", id="escaped-twice"
    ),
    pytest.param(
        json.dumps("4155552671\u3000+1\u3000415\u3000555\u30002671"),
        '"41***71\\u3000+1415***2671"',
        id="json-two",
    ),
]


@pytest.mark.parametrize(("text", "expected"), ESCAPED)
def test_a_number_with_escaped_separators_is_masked(text: str, expected: str) -> None:
    assert mask_numbers(text) == expected


AFTER_PERCENT_ESCAPES = [
    pytest.param(
        "body=%7B%22to%22%3A%224155552671%22%7D", "body=%7B%22to%22%3A%2241***71%22%7D", id="json"
    ),
    pytest.param("x%404155552671", "x%4041***71", id="at-sign"),
    pytest.param("%2814155552671%29", "%281415***2671%29", id="parentheses"),
    pytest.param("to=%22415-555-2671%22", "to=%2241***71%22", id="quoted-with-dashes"),
    pytest.param("a%26b=4155552671%26%274155552672%27", "a%26b=41***71%26%2741***72%27"),
    pytest.param("%094155552671", "%0941***71", id="tab"),
    pytest.param("%22%2B14155552671", "%22+1415***2671", id="plus-after-escape"),
]


@pytest.mark.parametrize(("text", "expected"), AFTER_PERCENT_ESCAPES)
def test_a_number_right_after_a_percent_escape_is_masked(text: str, expected: str) -> None:
    assert mask_numbers(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("\uff08415\uff09555-2671", "\uff0841***71", id="full-width-parentheses"),
        pytest.param("+1\uff08415\uff09 555 2671", "+1415***2671", id="after-a-country-code"),
    ],
)
def test_full_width_parentheses_are_separators(text: str, expected: str) -> None:
    assert mask_numbers(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # The digits of an escape are no number's, nor does an escape join two short ones.
        json.dumps("\u2011\u2011\u2011\u2011 \u201c\u2014\u201d 2026-12-06T16:46:36Z 19.9"),
        repr("\x85\x85\x85\x85\u2000\u2000\u2000"),
        json.dumps("v1.13.5, 3004.21\u00a019.9 s"),
        repr("12\xa034\xa056"),
        "%2012%2034%2056",
        "%22%22%22%22%22%22",
        "caf%C3%A9 %E2%80%94 19.9%25",
        json.dumps({"started": "2026-12-06T16:46:36.123\u00a0", "id": "3f2b8c1e-1d2a-4c3b-9e8f"}),
        # Middle dots are no separators: a date and a time listed with them stay apart.
        "12 min \u00b7 2026-12-06 \u00b7 16:46:36 \u00b7 127.0.0.1:5060 \u00b7 415\u30fb5",
    ],
)
def test_escapes_alone_and_look_alikes_around_them_stay(text: str) -> None:
    assert mask_numbers(text) == text


@pytest.mark.parametrize(
    "text", [json.dumps("4155552671\u2019s"), repr("415\xa0555\xa02671"), "%224155552671%22"]
)
def test_masking_an_escaped_number_twice_changes_nothing(text: str) -> None:
    assert mask_numbers(mask_numbers(text)) == mask_numbers(text) != text
