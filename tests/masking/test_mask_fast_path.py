"""The masking fast path (one search, then a cache of clean values) masks exactly what the
plain three-pass masking did, on generated values."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings, strategies as st

from orchestrator.logs import (
    _JWT,
    _UNSAFE,
    MAX_CHARS,
    _escape,
    mask,
    mask_phone_numbers as processor,
)
from orchestrator.masking import mask_numbers


def whole(text: str) -> str:
    return mask_numbers(_JWT.sub("<token>", text))


def reference(text: str) -> str:
    """`mask` without its fast paths: every pass, on every value."""
    masked = _UNSAFE.sub(_escape, whole(text))
    if len(masked) > MAX_CHARS:
        masked = f"{masked[:MAX_CHARS]}...({len(masked) - MAX_CHARS} more characters)"
    return masked


def reference_scrub(value: Any, in_traceback: bool = False) -> Any:
    if isinstance(value, str):
        return whole(value) if in_traceback else reference(value)
    if isinstance(value, dict):
        return {
            reference(k) if isinstance(k, str) else k: reference_scrub(v, in_traceback)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [reference_scrub(v, in_traceback) for v in value]
    return value


# Pieces a log value is made of: digits and separators (phone numbers), JWT-like parts,
# control and invisible characters, and plain words.
PIECES = st.one_of(
    st.text(alphabet="0123456789+-() .", max_size=20),
    st.just("eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"),
    st.sampled_from(["\r", "\n", "\x00", "\u200b", "\u202e", "\ufeff", "\u2028"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_:/@*", max_size=12),
    st.text(max_size=8),
)
VALUES = st.lists(PIECES, max_size=40).map("".join)


@settings(max_examples=1500)
@given(VALUES)
def test_mask_equals_the_plain_passes(text: str) -> None:
    assert mask(text) == reference(text)
    assert mask(text) == reference(text)  # the second time from the cache of clean values


@settings(max_examples=300)
@given(
    st.dictionaries(
        st.sampled_from(["event", "room", "to", "exception", "stack", "n", "nested"]),
        st.one_of(
            VALUES,
            st.integers(),
            st.none(),
            st.booleans(),
            st.lists(VALUES, max_size=3),
            st.dictionaries(st.text(max_size=3), VALUES, max_size=3),
        ),
    )
)
def test_processor_equals_the_plain_passes(event: dict[str, Any]) -> None:
    expected = {k: reference_scrub(v, k in ("exception", "stack")) for k, v in event.items()}
    assert processor(None, "info", dict(event)) == expected


def test_long_clean_values_are_still_cut() -> None:
    assert mask("a" * 300) == reference("a" * 300) != "a" * 300
    assert re.fullmatch(r"a{256}\.\.\.\(44 more characters\)", mask("a" * 300))
