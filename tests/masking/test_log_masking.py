"""The log processor's reach: which values it rewrites, and which it must leave as objects."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from enum import StrEnum

import structlog
from structlog.testing import LogCapture

from orchestrator.logs import mask_phone_numbers


@dataclass
class Leg:
    to: str


def test_an_object_whose_repr_quotes_a_number_becomes_its_masked_repr() -> None:
    event = mask_phone_numbers(None, "info", {"event": "x", "leg": Leg("415 555 2671")})
    assert event["leg"] == "Leg(to='41***71')"


def test_an_object_with_nothing_to_mask_stays_the_same_object() -> None:
    leg = Leg("desk")
    assert mask_phone_numbers(None, "info", {"event": "x", "leg": leg})["leg"] is leg


def test_structlogs_own_keys_stay_objects_for_the_processors_after() -> None:
    """`format_exc_info` and the stdlib `ProcessorFormatter` read them as objects."""
    error = ValueError("no route to 415-555-2671")
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "415-555-2671", None, None)
    event = {"event": "x", "exc_info": error, "_record": record, "_from_structlog": True}
    masked = mask_phone_numbers(None, "info", dict(event))
    assert masked["exc_info"] is error
    assert masked["_record"] is record


def test_sets_and_the_keys_of_nested_dicts_are_masked() -> None:
    event = {"event": "x", "seen": {"415.555.2671"}, "by_number": {"+1 415 555 2671": 2}}
    masked = mask_phone_numbers(None, "info", event)
    assert masked["seen"] == ["41***71"]
    assert masked["by_number"] == {"+1415***2671": 2}


def test_values_logged_by_their_repr_hide_numbers_with_escaped_separators() -> None:
    """A repr escapes no-break spaces (`\\xa0`), tabs and U+202F: the masker reads them."""
    event = {
        "event": "x",
        "error": ValueError("bad 415\u00a0555\u00a02671"),
        "body": b"415\t555\t2671",
        "leg": Leg("+1\u202f415\u202f555\u202f2671"),
        "json": json.dumps({"to": "+1\u00a0415\u00a0555\u00a02671"}),
    }
    masked = mask_phone_numbers(None, "info", event)
    assert masked["error"] == "ValueError('bad 41***71')"
    assert masked["body"] == "b'41***71'"
    assert masked["leg"] == "Leg(to='+1415***2671')"
    assert masked["json"] == '{"to": "+1415***2671"}'


def test_a_key_error_in_a_logged_traceback_hides_its_number() -> None:
    captured = LogCapture()
    structlog.configure(
        processors=[structlog.processors.format_exc_info, mask_phone_numbers, captured]
    )
    try:
        try:
            by_number: dict[str, int] = {}
            by_number["415\u00a0555\u00a02671"] += 1
        except KeyError:
            structlog.get_logger("orchestrator.test").exception("lookup")
    finally:
        structlog.reset_defaults()
    (event,) = captured.entries
    assert "KeyError: '41***71'" in event["exception"]
    assert "2671" not in event["exception"].replace("41***71", "")


class Number(str):
    pass


class Kind(StrEnum):
    CALLER = "415 555 2670"


def test_nested_keys_that_are_not_plain_strings_are_masked() -> None:
    by_key = {
        Number("4155552671"): 1,
        Kind.CALLER: 2,
        b"415\t555\t2672": 3,
        ("+1\u00a0415\u00a0555\u00a02673", 5060): 4,
        Number("desk"): 5,
        ("desk", 1): 6,
        4155552674: 7,
    }
    masked = mask_phone_numbers(None, "info", {"event": "x", "by_key": by_key})["by_key"]
    assert list(masked.values()) == [1, 2, 3, 4, 5, 6, 7]
    keys = list(masked)
    assert keys[:4] == ["41***71", "41***70", "b'41***72'", "('+1415***2673', 5060)"]
    # Nothing to hide: the same objects; an int key is a number the masker never scans.
    assert type(keys[4]) is Number
    assert keys[5] == ("desk", 1)
    assert keys[6] == 4155552674
