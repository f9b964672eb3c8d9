"""Structured logs: masking of phone numbers, and an opt-in configuration for applications.

Numbers are found by `orchestrator.masking` (however they are written); this module adds
tokens, unsafe characters and long values, and applies it all to every value of a line.

The library only ever calls `structlog.get_logger("orchestrator...")`; it never configures
logging itself. `mask_phone_numbers` is a structlog processor that applications (and
`configure_logging`) put before their renderer, and the engine also masks every value it binds,
so a raw number never reaches a log line even under a foreign configuration.
"""

from __future__ import annotations

import json as jsonlib
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from orchestrator.masking import mask_numbers

__all__ = ["configure_logging", "mask", "mask_phone_numbers"]

_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
# Characters that forge log lines (CR/LF) or hide what a value says (bidi overrides,
# zero-width): escaped, never written raw. Values come from callers and carriers.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u2028\u2029]"
)
MAX_CHARS = 256
"""Longer values are cut (a hostile caller ID of 10,000 characters must not flood logs)."""


def _escape(match: re.Match[str]) -> str:
    return match[0].encode("unicode_escape").decode("ascii")


_SUSPECT = re.compile(f"{_JWT.pattern}|{_UNSAFE.pattern}")
"""A token or an unsafe character, in one search. Most values (event names, RPC names, ids)
have neither, nor the 7 digits a phone number needs, and pass after two quick searches."""
_CLEAN: set[str] = set()  # values seen to need nothing: ids and names repeat on every event
_CLEAN_KEPT = 4096


def _mask_whole(text: str) -> str:
    # Tokens first: a number masked inside a token would cut it short of the token pattern.
    return mask_numbers(_JWT.sub("<token>", text))


def mask(text: str) -> str:
    """Phone numbers masked however written (`415-555-2671` becomes `41***71`, see
    `orchestrator.masking`); JWTs become `<token>`; control and invisible characters are
    escaped (`\\r`, `\\u200b`); values over 256 characters are cut."""
    if text in _CLEAN:
        return text
    suspect = _SUSPECT.search(text) is not None
    masked = _UNSAFE.sub(_escape, _mask_whole(text)) if suspect else mask_numbers(text)
    if len(text) <= MAX_CHARS and masked == text:
        if len(_CLEAN) >= _CLEAN_KEPT:
            _CLEAN.clear()
        _CLEAN.add(text)
        return text
    if len(masked) > MAX_CHARS:
        masked = f"{masked[:MAX_CHARS]}...({len(masked) - MAX_CHARS} more characters)"
    return masked


def _scrub(value: Any, whole: bool = False) -> Any:
    if isinstance(value, str):
        # A rendered traceback keeps its lines and its length; numbers and tokens go anyway.
        return _mask_whole(value) if whole else mask(value)
    if isinstance(value, dict):
        return {_scrub_key(k): _scrub(v, whole) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v, whole) for v in value]
    if isinstance(value, _PLAIN):
        return value
    # Anything else is rendered by its repr (structlog's JSON and console renderers both do):
    # an exception or an object quoting a number is replaced by its masked repr.
    text = repr(value)
    masked = _mask_whole(text) if whole else mask(text)
    return value if masked == text else masked


def _scrub_key(key: Any) -> Any:
    """A nested dict's key, masked like a value (escaped, cut: a key is never a traceback); it
    stays the same object when nothing shows."""
    if type(key) is str:
        return mask(key)
    if isinstance(key, _PLAIN):
        return key
    # A str subclass (an enum's member) by the text it holds; bytes, tuples and the rest by
    # their repr, which is what a renderer prints. A masked key becomes a plain str.
    text = str.__str__(key) if isinstance(key, str) else repr(key)
    masked = mask(text)
    return key if masked == text else masked


_WHOLE = frozenset({"exception", "stack"})
_PLAIN = (int, float, bool, type(None))
_STRUCTLOG_OWN = frozenset({"exc_info", "_record", "_from_structlog"})
"""Left alone: `format_exc_info` and the stdlib `ProcessorFormatter` read them as objects."""


def mask_phone_numbers(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask phone numbers and tokens in every value, nested ones (and
    the keys of nested dicts) too, and in the repr of any other object; escape control
    characters (except in rendered tracebacks). Put it before processors that add values
    known to be safe (timestamps, levels): they need no scan."""
    for key, value in event_dict.items():
        if type(value) is str and key not in _WHOLE:
            event_dict[key] = mask(value)
        elif not isinstance(value, _PLAIN) and key not in _STRUCTLOG_OWN:
            event_dict[key] = _scrub(value, key in _WHOLE)
    return event_dict


_ENCODERS: dict[Any, jsonlib.JSONEncoder] = {}


def _dumps(value: Any, *, default: Any = None) -> str:
    """`json.dumps(value, default=default)`, through an encoder made once per `default`:
    `json.dumps` makes a new encoder on every call that passes an argument, as structlog's
    JSON renderer does on every line (a third of the line's rendering)."""
    encoder = _ENCODERS.get(default)
    if encoder is None:
        encoder = _ENCODERS[default] = jsonlib.JSONEncoder(default=default)
    return encoder.encode(value)


def configure_logging(*, json: bool = False, level: int = logging.INFO) -> None:
    """Configure structlog for an application or the CLI (never called by the library).

    `json=True` prints one JSON object per line with `event`, `timestamp` and `level`;
    otherwise a readable console format. Both mask phone numbers and never render locals.
    """
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.format_exc_info,
            mask_phone_numbers,  # before the level and time: they are safe, and not scanned
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=False,
    )
