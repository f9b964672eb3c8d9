"""The log processor's reach: which values it rewrites, and which it must leave as objects."""

from __future__ import annotations

import logging
from dataclasses import dataclass

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
