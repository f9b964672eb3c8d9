"""Phone numbers in any text, found and masked (`+14155552671` becomes `+1415***2671`).

This module only finds and masks numbers; it imports nothing from the package, so anything can
use it without an import cycle. `orchestrator.logs` applies it to every value of a log line,
`orchestrator.errors` to the message of every error. `docs/masking.md` has the rule and its
limits; in short, reading left to right:

* A date or ISO 8601 date-time (`2026-12-06`, `2026-12-06T16:46:36.123Z`, `06/12/2026`), a
  time of day (`16:46:36.123`), a UUID, an IPv4 address with its port (`127.0.0.1:5060`) and
  a number masked already (`+1415***2671`) are skipped where they start.
* Anywhere else, a run of digits is read as one: an optional `+` (or `%2B`), an optional area
  code in parentheses, then groups of digits joined by one to three separators: spaces
  (no-break, thin, the others, line breaks), hyphens and dashes, `.`, `/`, `_`, parentheses,
  invisible and control characters, and the percent-encoded `%20`, `%2D`, `%2E`, `%2F`.
* A date, time or UUID that starts after a separator ends the run (a date followed by more
  groups is no date). An IPv4 address or a decimal of fewer than 7 digits may be the last
  groups of a dotted number (`41.55.55.26.71`): it ends the run only after a space that follows
  a number written as one group (`+14155552671 19.9`), or one of its own kind (`3004.21 19.9`).
* A run of at least `MIN_DIGITS` digits is a number and is masked: separators are dropped,
  the `+` stays, and only the first and last 4 digits (2 below 11 digits) are kept.
"""

from __future__ import annotations

import re
from itertools import pairwise

__all__ = ["MIN_DIGITS", "mask_numbers"]

MIN_DIGITS = 7
"""The fewest digits a number has (a local number without its area code)."""

_SPACES = "\t\n\v\f\r \x85\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_DASHES = "\\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d"
_CONTROLS = "\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f"
_INVISIBLE = f"{_CONTROLS}\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_OTHERS = "./_()\u2024\u2044\u2215\uff0e\uff0f"
_SEPARATOR = f"(?:[{_SPACES}{_DASHES}{_INVISIBLE}{_OTHERS}]|%2[0dDeEfF])"
_BLANK = re.compile(f"[{_SPACES}]|%20")
_GROUP = re.compile(r"(?<!%)(?<!%2)\d+")  # the digits of `%20` are not the number's

_MONTH = r"(?:0?[1-9]|1[0-2])"
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_YEAR = r"(?:19|20)\d\d"
_TIME = r"(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:[.,]\d{1,9})?)?"
_ZONE = r"(?:Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)"
_DATES = "|".join(
    rf"{_YEAR}{sep}{_MONTH}{sep}{_DAY}|{_DAY}{sep}{_DAY}{sep}{_YEAR}" for sep in ("-", "/", r"\.")
)
# With its time, or alone: not followed by more groups (`+32 2012-12-24-56` is a number).
_DATE = rf"(?:{_DATES})(?:[T ]{_TIME}{_ZONE}?|(?!{_SEPARATOR}{{1,3}}\d))"
_HEX = "[0-9a-fA-F]"
_UUID_BODY = f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
_UUID = f"(?<!{_HEX}){_UUID_BODY}(?!{_HEX})"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}(?::\d{{1,5}})?"
_DECIMAL = "|".join(
    rf"\d{{{whole}}}\.\d{{1,{MIN_DIGITS - 1 - whole}}}" for whole in range(1, MIN_DIGITS - 1)
)


def _lookalike(pattern: str) -> str:
    # Not the middle of a dotted run (`41.55.55.26.71` holds no address), nor followed by more.
    return rf"(?<!\d\.)(?:{pattern})(?!\.?\d)"


_AFTER_GAP = re.compile(_lookalike(f"(?P<strong>{_DATE}|{_TIME}|{_UUID})|{_IPV4}|{_DECIMAL}"))
"""A look-alike where a group starts: `strong` ones are in no phone number; the others (`_WEAK`)
may be the last groups of a dotted one."""
_WEAK = re.compile(_lookalike(f"{_IPV4}|{_DECIMAL}"))
_START = r"(?:(?<=%2[0dDeEfF])|(?<![\d%]))"  # not within a run of digits, nor within `%20`
_RUN = rf"(?:\+|%2[bB])?(?:\(\d{{1,4}}\){_SEPARATOR}{{0,3}})?\d+(?:{_SEPARATOR}{{1,3}}\d+)*"
_MASKED = r"\+?\d{2,4}\*\*\*\d{2,4}"  # masked already: masking twice changes nothing
_FIND = re.compile(
    rf"{_START}(?:(?P<keep>{_lookalike(f'{_DATE}|{_TIME}|{_IPV4}|{_MASKED}')})|{_RUN})"
)
"""Matched only where `_CANDIDATE` points: searching with it would try every alternative at
every character (about 1 µs each)."""
_CANDIDATE = re.compile(r"[+(%]|\d")
_UUIDS = re.compile(_UUID_BODY)  # fast to search for; then checked for its bounds
_UUID_AT = re.compile(_UUID)
_ENOUGH_DIGITS = re.compile(rf"(?:\D*\d){{{MIN_DIGITS}}}")


def _run_end(text: str, start: int, end: int) -> int:
    """Where the run of digits found at `text[start:end]` ends: before a look-alike."""
    groups = _GROUP.finditer(text, start, end)
    for index, (group, following) in enumerate(pairwise(groups)):
        lookalike = _AFTER_GAP.match(text, following.start())
        if lookalike is None:
            continue
        if lookalike["strong"] is not None:
            return group.end()
        one_group = index == 0 and len(group[0]) >= MIN_DIGITS
        if _BLANK.search(text, group.end(), following.start()) and (
            one_group or _WEAK.fullmatch(text, start, group.end())
        ):
            return group.end()
    return end


def _masked(text: str, start: int, end: int) -> str:
    digits = "".join(_GROUP.findall(text, start, end))
    if len(digits) < MIN_DIGITS:
        return text[start:end]
    plus = "+" if text[start] in "+%" else ""
    keep = 4 if len(digits) >= 11 else 2
    return f"{plus}{digits[:keep]}***{digits[-keep:]}"


def mask_numbers(text: str) -> str:
    """Mask every phone number in `text`, however it is written; leave everything else.

    `mask_numbers("sip:415-555-2671@pbx")` is `"sip:41***71@pbx"`. A text with fewer than 7
    digits is returned as it is, after one quick search.
    """
    if not _ENOUGH_DIGITS.match(text):
        return text
    # A UUID may start with a letter, where no candidate points: found first, then skipped.
    hits = _UUIDS.finditer(text) if text.count("-") >= 4 else ()
    uuids = [hit.span() for hit in hits if _UUID_AT.match(text, hit.start())]
    pieces: list[str] = []
    done = at = 0
    while (candidate := _CANDIDATE.search(text, at)) is not None:
        at = candidate.start()
        uuid_end = next((end for start, end in uuids if start <= at < end), None)
        found = _FIND.match(text, at) if uuid_end is None else None
        if uuid_end is not None:
            at = uuid_end
        elif found is None:
            at += 1
        elif found["keep"] is not None:
            at = found.end()
        else:
            end = _run_end(text, at, found.end())
            pieces += (text[done:at], _masked(text, at, end))
            done = at = end
    return "".join(pieces) + text[done:] if pieces else text
