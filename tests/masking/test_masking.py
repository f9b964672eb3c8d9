"""`mask_numbers`: every phone number is masked however it is written, and what only looks like
one (timestamps, durations, UUIDs, addresses, versions, ids) is left as it is."""

from __future__ import annotations

import ipaddress
import os
import string
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given, settings, strategies as st

from orchestrator.masking import MIN_DIGITS, mask_numbers

SEARCH = os.environ.get("MASKING_EXAMPLES")
PROPERTY = settings(max_examples=int(SEARCH or 250), derandomize=SEARCH is None)
"""`make test` runs the same 250 examples per property every time (a shared machine, a
deterministic suite); `MASKING_EXAMPLES=20000 pytest tests/masking/test_masking.py` searches
further, with new random examples."""


def masked_form(digits: str, plus: bool) -> str:
    """The project's masked form: `+`, first and last 4 digits (2 below 11 digits)."""
    keep = 4 if len(digits) >= 11 else 2
    return f"{'+' if plus else ''}{digits[:keep]}***{digits[-keep:]}"


class TestForms:
    """Literal forms, each with the exact text expected."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param("+14155552671", "+1415***2671", id="e164"),
            pytest.param("(415) 555-2671", "41***71", id="parenthesised-area-code"),
            pytest.param("+1 (415) 555-2671", "+1415***2671", id="e164-parenthesised"),
            pytest.param("(415)-555-2671", "41***71", id="parenthesis-then-dash"),
            pytest.param("+44 20 7946 0958", "+4420***0958", id="uk"),
            pytest.param("+33 1 23 45 67 89", "+3312***6789", id="france-spaces"),
            pytest.param("01.23.45.67.89", "01***89", id="france-dots"),
            pytest.param("555-2671", "55***71", id="seven-digits"),
            pytest.param("555.2671", "55***71", id="seven-digits-dot"),
            pytest.param("415 - 555 - 2671", "41***71", id="spaced-dashes"),
            pytest.param("415\u2212555\u22122671", "41***71", id="minus-signs"),
            pytest.param("415\u00ad555\u00ad2671", "41***71", id="soft-hyphens"),
            pytest.param("415%2D555%2D2671", "41***71", id="percent-encoded-dashes"),
            pytest.param("415\r\n555\r\n2671", "41***71", id="line-breaks"),
            pytest.param("call-+14155552671", "call-+1415***2671", id="identifier-e164"),
            pytest.param("room_4155552671", "room_41***71", id="identifier-digits"),
            pytest.param("call-_+14155552671_Xb3kQ", "call-_+1415***2671_Xb3kQ", id="dispatch"),
            pytest.param("sip:+14155552671@pbx;user=phone", "sip:+1415***2671@pbx;user=phone"),
            pytest.param("<tel:+1-415-555-2671>", "<tel:+1415***2671>", id="tel-in-brackets"),
            pytest.param("ext 4155552671,,123", "ext 41***71,,123", id="pauses"),
            pytest.param("call 415 555 2671.", "call 41***71.", id="end-of-sentence"),
            pytest.param("4155552671, 4155552672", "41***71, 41***72", id="two-numbers"),
            pytest.param("deadbeef4155552671", "deadbeef41***71", id="after-letters"),
        ],
    )
    def test_a_number_written_this_way_is_masked(self, text: str, expected: str) -> None:
        assert mask_numbers(text) == expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("4155552671 2026-12-06T16:46:36Z", "41***71 2026-12-06T16:46:36Z"),
            ("4155552671 16:46:36.123", "41***71 16:46:36.123"),
            ("4155552671 127.0.0.1:5060", "41***71 127.0.0.1:5060"),
            ("4155552671 19.9", "41***71 19.9"),
            ("10.0.0.1 415 555 2671", "10.0.0.1 41***71"),
            ("at 2026-12-06 16:46:36 from 415.555.2671", "at 2026-12-06 16:46:36 from 41***71"),
        ],
    )
    def test_a_look_alike_beside_a_number_stays_apart_from_it(
        self, text: str, expected: str
    ) -> None:
        assert mask_numbers(text) == expected


class TestLookAlikes:
    """What has digits but is no phone number comes back unchanged."""

    @pytest.mark.parametrize(
        "text",
        [
            "2026-12-06T16:46:36.123456+00:00",
            "2026-12-06 16:46:36",
            "16:46:36.123",
            "06/12/2026",
            "2026/12/06",
            "06.12.2026",
            "3004.21",
            "19.9",
            "hold 3004.21 19.9 s",
            "took 3004.21. 19.9 s",
            "123e4567-e89b-12d3-a456-426614174000",
            "12345678-1234-1234-1234-123456789012",
            "127.0.0.1:5060",
            "192.168.100.200",
            "3004.21 127.0.0.1",
            "v1.13.5",
            "livekit-server v1.13.5, livekit-sip v1.11.0",
            "SIP/2.0 486 Busy Here",
            "sip status 603 after 19.9 s",
            "transfer qwhzkcrtbnaf at 16:46:36",
            "port 5060 at 300 2026-12-06",
        ],
    )
    def test_a_look_alike_is_left_unchanged(self, text: str) -> None:
        assert mask_numbers(text) == text

    @pytest.mark.parametrize("text", ["", "abc", "call-1", "123456", "1 2 3 4 5 6", "1.2.3.4.5"])
    def test_text_with_fewer_than_seven_digits_comes_back_as_the_same_object(
        self, text: str
    ) -> None:
        assert mask_numbers(text) is text


# Numbers: a country code (or none), a national number grouped the ways countries write it.
GROUPINGS = [
    (3, 3, 4),
    (3, 4),
    (4, 4),
    (3, 3, 3),
    (2, 4, 4),
    (4, 3, 3),
    (2, 2, 2, 2, 2),
    (3, 3, 2, 2),
    (1, 3, 3, 4),
    (2, 3, 2, 3),
    (4, 2, 2, 2),
    (10,),
    (9,),
]
SEPARATORS = [
    " ", "-", ".", "/", "_", " - ", "\t",
    "\u00a0", "\u2007", "\u2009", "\u202f", "\u3000",  # no-break, figure, thin, narrow, wide
    "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212",  # hyphens, dashes, minus
    "\u200b", "\u2060", "\u00ad",  # zero-width space, word joiner, soft hyphen
    "\n", "\r\n", "\x01", "\u2028",  # line breaks and controls (escaped in logs: not raw)
    "%20", "%2D", "%2E",
]  # fmt: skip
FORMATS = ["national", "e164", "plus-country-sep", "country-sep", "parenthesised", "encoded"]
BEFORE = ["", "sip:", "tel:", "call-", "room_", "caller ", "<sip:", "from=", "Number ", "x"]
AFTER = ["", "@pbx.example.com", ";user=phone", "_Xb3kQ", " refused", ">", ".", ", "]
AFTER_LOOKALIKE = [" 2026-12-06T16:46:36Z", " 16:46:36", " from 127.0.0.1:5060", " in 3004.21 s"]


@st.composite
def numbers(draw: st.DrawFn) -> tuple[str, str, bool]:
    """A number as written, its digits, and whether it was written with a `+`."""
    grouping = draw(st.sampled_from(GROUPINGS))
    national = draw(st.text(string.digits, min_size=sum(grouping), max_size=sum(grouping)))
    groups, at = [], 0
    for size in grouping:
        groups.append(national[at : at + size])
        at += size
    country = draw(st.sampled_from(["1", "44", "33", "49", "353", "91"]))
    sep = draw(st.sampled_from(SEPARATORS))
    style = draw(st.sampled_from(FORMATS))
    grouped = sep.join(groups)
    if style == "national":
        return grouped, national, False
    if style == "e164":
        return f"+{country}{national}", country + national, True
    if style == "plus-country-sep":
        return f"+{country}{sep}{grouped}", country + national, True
    if style == "country-sep":
        return f"{country}{sep}{grouped}", country + national, False
    if style == "parenthesised" and len(groups) > 1 and len(groups[0]) > 1:
        return f"+{country} ({groups[0]}) {sep.join(groups[1:])}", country + national, True
    return f"%2B{country}{national}", country + national, True


def reads_as_an_ip_address(text: str) -> bool:
    """Four dotted groups of 0-255 are an IPv4 address: a documented limit."""
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


@PROPERTY
@given(numbers(), st.sampled_from(BEFORE), st.sampled_from(AFTER + AFTER_LOOKALIKE))
def test_every_generated_number_is_masked_and_nothing_around_it(
    number: tuple[str, str, bool], before: str, after: str
) -> None:
    written, digits, plus = number
    assume(not reads_as_an_ip_address(written))
    assert len(digits) >= MIN_DIGITS
    assert (
        mask_numbers(f"{before}{written}{after}") == f"{before}{masked_form(digits, plus)}{after}"
    )


@PROPERTY
@given(st.lists(numbers(), min_size=2, max_size=4), st.sampled_from([", ", " and ", "; ", "|"]))
def test_several_numbers_in_one_text_are_each_masked(
    found: list[tuple[str, str, bool]], joiner: str
) -> None:
    assume(not any(reads_as_an_ip_address(written) for written, _, _ in found))
    text = joiner.join(written for written, _, _ in found)
    assert mask_numbers(text) == joiner.join(masked_form(d, plus) for _, d, plus in found)


@PROPERTY
@given(numbers(), st.sampled_from(BEFORE), st.sampled_from(AFTER + AFTER_LOOKALIKE))
def test_masking_twice_changes_nothing(
    number: tuple[str, str, bool], before: str, after: str
) -> None:
    """The engine masks what it binds and the log processor masks it again."""
    once = mask_numbers(f"{before}{number[0]}{after}")
    assert mask_numbers(once) == once


MOMENTS = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2099, 12, 31))
ZONES = st.sampled_from([None, UTC, timezone(timedelta(hours=5, minutes=30))])


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    moment = draw(MOMENTS).replace(tzinfo=draw(ZONES))
    shapes = [
        moment.isoformat(),
        moment.isoformat(sep=" "),
        moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        moment.strftime("%Y-%m-%d %H:%M:%S"),
        moment.strftime("%H:%M:%S.%f")[:-3],
        moment.strftime("%H:%M"),
        moment.strftime("%d/%m/%Y"),
        moment.strftime("%m/%d/%Y"),
        moment.strftime("%Y/%m/%d"),
        moment.strftime("%d.%m.%Y"),
        moment.date().isoformat(),
    ]
    return draw(st.sampled_from(shapes))


@st.composite
def durations(draw: st.DrawFn) -> str:
    """Decimals of fewer than 7 digits, as log texts show seconds and milliseconds."""
    whole = str(draw(st.integers(0, 99_999)))
    size = MIN_DIGITS - 1 - len(whole)
    return f"{whole}.{draw(st.text(string.digits, min_size=1, max_size=size))}"


LOOK_ALIKES = st.one_of(
    timestamps(),
    durations(),
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.ip_addresses(v=4).map(str),
    st.tuples(st.ip_addresses(v=4), st.integers(1, 65535)).map(lambda a: f"{a[0]}:{a[1]}"),
    st.tuples(*[st.integers(0, 99)] * 3).map(lambda v: "v{}.{}.{}".format(*v)),
    st.integers(100, 699).map(lambda code: f"SIP/2.0 {code}"),
    st.text(string.ascii_lowercase, min_size=12, max_size=12),  # transfer ids
    st.integers(0, 999_999).map(str),
)


@PROPERTY
@given(
    st.lists(LOOK_ALIKES, min_size=1, max_size=5),
    st.sampled_from([", ", "; ", " at ", " took ", " | ", " and ", "="]),
)
def test_look_alikes_are_never_masked(pieces: list[str], joiner: str) -> None:
    text = joiner.join(pieces)
    assert mask_numbers(text) == text


def test_a_hostile_run_of_separators_and_digits_is_masked_quickly() -> None:
    """No catastrophic backtracking: a long alternation of digits and separators is one
    number, found in one pass."""
    text = "1-" * 20_000 + "x" + "1." * 20_000
    assert mask_numbers(text) == "1111***1111-x1111***1111."
