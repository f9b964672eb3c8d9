"""Structured logs: masking of phone numbers, and an opt-in configuration for applications.

The library only ever calls `structlog.get_logger("orchestrator...")`; it never configures
logging itself. `mask_phone_numbers` is a structlog processor that applications (and
`configure_logging`) put before their renderer, and the engine also masks every value it binds,
so a raw number never reaches a log line even under a foreign configuration.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

__all__ = ["configure_logging", "mask", "mask_phone_numbers"]

# Phone numbers wherever they hide (`+14155552671`, `sip_+14155552671`, `tel:4155552671`):
# any run of 7 or more digits, with an optional + (a run too long to be a valid number is
# still someone's number with junk around it); a + followed by digits in groups
# (`+1 415 555 2671`, `+1-415-555-2671`); the North American `(415) 555-2671`.
_NUMBER = re.compile(
    r"(?<!\d)\+?\d{7,}(?!\d)"
    r"|\+\d[\d .()-]{5,}\d(?!\d)"
    r"|\(\d{3}\)[ .-]?\d{3}[ .-]?\d{4}(?!\d)"
)
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
# Characters that forge log lines (CR/LF) or hide what a value says (bidi overrides,
# zero-width): escaped, never written raw. Values come from callers and carriers.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u2028\u2029]"
)
MAX_CHARS = 256
"""Longer values are cut (a hostile caller ID of 10,000 characters must not flood logs)."""


def _mask_number(match: re.Match[str]) -> str:
    digits = "".join(c for c in match[0] if c.isdigit())
    if len(digits) < 7:  # digits in groups, but too few to be a phone number
        return match[0]
    plus = "+" if match[0].startswith("+") else ""
    keep = 4 if len(digits) >= 11 else 2
    return f"{plus}{digits[:keep]}***{digits[-keep:]}"


def _escape(match: re.Match[str]) -> str:
    return match[0].encode("unicode_escape").decode("ascii")


_SUSPECT = re.compile(f"{_NUMBER.pattern}|{_JWT.pattern}|{_UNSAFE.pattern}")
"""Anything `mask` would change, in one search: most values (event names, RPC names, ids)
have nothing to mask, and are passed through after that one search."""
_CLEAN: set[str] = set()  # values seen to need nothing: ids and names repeat on every event
_CLEAN_KEPT = 4096


def mask(text: str) -> str:
    """`+14155552671` becomes `+1415***2671`; JWTs become `<token>`; control and invisible
    characters are escaped (`\\r`, `\\u200b`); values over 256 characters are cut."""
    if text in _CLEAN:
        return text
    if len(text) <= MAX_CHARS and not _SUSPECT.search(text):
        if len(_CLEAN) >= _CLEAN_KEPT:
            _CLEAN.clear()
        _CLEAN.add(text)
        return text
    masked = _UNSAFE.sub(_escape, _JWT.sub("<token>", _NUMBER.sub(_mask_number, text)))
    if len(masked) > MAX_CHARS:
        masked = f"{masked[:MAX_CHARS]}...({len(masked) - MAX_CHARS} more characters)"
    return masked


def _scrub(value: Any, whole: bool = False) -> Any:
    if isinstance(value, str):
        # A rendered traceback keeps its lines and its length; numbers and tokens go anyway.
        return _JWT.sub("<token>", _NUMBER.sub(_mask_number, value)) if whole else mask(value)
    if isinstance(value, dict):
        return {k: _scrub(v, whole) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v, whole) for v in value]
    return value


_WHOLE = frozenset({"exception", "stack"})
_PLAIN = (int, float, bool, type(None))


def mask_phone_numbers(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask phone numbers and tokens in every value, nested ones too,
    and escape control characters (except in rendered tracebacks). Put it before processors
    that add values known to be safe (timestamps, levels): they need no scan."""
    for key, value in event_dict.items():
        if type(value) is str and key not in _WHOLE:
            event_dict[key] = mask(value)
        elif not isinstance(value, _PLAIN):
            event_dict[key] = _scrub(value, key in _WHOLE)
    return event_dict


def configure_logging(*, json: bool = False, level: int = logging.INFO) -> None:
    """Configure structlog for an application or the CLI (never called by the library).

    `json=True` prints one JSON object per line with `event`, `timestamp` and `level`;
    otherwise a readable console format. Both mask phone numbers and never render locals.
    """
    renderer: Any = (
        structlog.processors.JSONRenderer()
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
