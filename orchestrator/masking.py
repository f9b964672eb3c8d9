"""Phone numbers in any text, found and masked (`+14155552671` becomes `+1415***2671`).

This module only finds and masks numbers; it imports nothing from the package, so anything can
use it without an import cycle. `orchestrator.logs` applies it to every value of a log line,
`orchestrator.errors` to the message of every error. `docs/masking.md` has the rule and its
limits; in short, reading left to right:

* A date or ISO 8601 date-time (`2026-12-06`, `2026-12-06T16:46:36.123Z`, `06/12/2026`), a
  time of day (`16:46:36.123`), a UUID, an IPv4 address with its port (`127.0.0.1:5060`) and
  a number masked already (`+1415***2671`) are skipped where they start.
* Anywhere else (also right after an escape such as `%22` or `\\xa0`), a run of digits is read
  as one: an optional `+` (or `%2B`), an optional area code in parentheses, then groups of
  digits joined by one to three separators: spaces (no-break, thin, the others, line breaks),
  hyphens and dashes, `.`, `/`, `_`, parentheses (full-width too), invisible and control
  characters, the percent-encoded `%20`, `%2D`, `%2E`, `%2F`, and any of these as `repr` or
  JSON escape it (`\\xa0`, `\\u00a0`, `\\u2011`, `\\t`, the UTF-8 bytes `\\xc2\\xa0`).
  The run is read one group at a time, and each group is looked at a bounded number of
  times: the time is linear in the text.
* A date, time or UUID that starts after a separator ends the run (a date followed by more
  groups is no date). An IPv4 address or a decimal of fewer than 7 digits may be the last
  groups of a dotted number (`41.55.55.26.71`): it ends the run only after a space that follows
  a number written as one group (`+14155552671 19.9`), or one of its own kind (`3004.21 19.9`).
* A run of at least `MIN_DIGITS` digits is a number and is masked: separators are dropped,
  the `+` stays, and only the first and last 4 digits (2 below 11 digits) are kept.
"""

from __future__ import annotations

import re

__all__ = ["MIN_DIGITS", "mask_numbers"]

MIN_DIGITS = 7
"""The fewest digits a number has (a local number without its area code)."""

_SPACES = "\t\n\v\f\r \x85\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_DASHES = "\\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d"
_CONTROLS = "\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f"
_INVISIBLE = f"{_CONTROLS}\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_OTHERS = "./_()\u2024\u2044\u2215\uff08\uff09\uff0e\uff0f"
_SEPARATORS = f"{_SPACES}{_DASHES}{_INVISIBLE}{_OTHERS}"


def _escaped(chars: str) -> str:
    """The escape sequences that `repr`, `json.dumps` and bytes' `repr` (of UTF-8) write for
    the characters of the class `chars`, as one pattern: `\\xa0`, `\\u00a0`, `\\xc2\\xa0`, `\\t`.
    An escaped string quoted again (`\\\\xa0`) is read the same."""
    members = re.compile(f"[{chars}]")
    found = [chr(c) for c in range(0x10000) if members.match(chr(c))]
    letters = sorted({repr(c)[2] for c in found if repr(c)[1:3] in ("\\t", "\\n", "\\r")})
    letters += [letter for letter, c in (("b", "\b"), ("f", "\f"), ("v", "\v")) if c in found]
    sequences = {f"u{ord(c):04x}" for c in found if ord(c) > 0x7E or ord(c) < 0x20}
    sequences |= {f"x{ord(c):02x}" for c in found if ord(c) < 0x100 and not c.isprintable()}
    sequences |= {"\\".join(f"x{byte:02x}" for byte in c.encode()) for c in found if ord(c) > 0x7F}
    # Longest first: `\xc2\xa0` before `\xc2`; within one, a backslash may be doubled.
    alternatives = "|".join(
        r"\\{1,2}".join(part for part in sequence.split("\\"))
        for sequence in sorted(sequences, key=lambda sequence: (-len(sequence), sequence))
    )
    return rf"\\{{1,2}}(?:[{''.join(letters)}]|(?i:{alternatives}))"


_ESCAPED = _escaped(_SEPARATORS)
"""A separator as a rendered `repr` or JSON text writes it, escaped: `415\\xa0555\\xa02671`."""
_SEPARATOR = f"(?:[{_SEPARATORS}]|%2[0dDeEfF]|{_ESCAPED})"
_BLANK = re.compile(f"[{_SPACES}]|%20|{_escaped(_SPACES)}")

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
# Not within a run of digits, nor within an escape (`%22`, `\xa0`, `\u2011`), but right after
# one (`%224155552671`, `%2B1`): the escape's last digit does not join the number.
_START = (
    rf"(?:(?<=%{_HEX}{{2}})|(?<=\\x{_HEX}{{2}})|(?<=\\u{_HEX}{{4}})|(?<![\d%]))"
    rf"(?<!\\x)(?<!\\x{_HEX})(?<!\\u)(?<!\\u{_HEX})(?<!\\u{_HEX}{{2}})(?<!\\u{_HEX}{{3}})"
)
_MASKED = r"\+?\d{2,4}\*\*\*\d{2,4}"  # masked already: masking twice changes nothing
_HEAD = re.compile(
    rf"{_START}(?:(?P<keep>{_lookalike(f'{_DATE}|{_TIME}|{_IPV4}|{_MASKED}')})"
    rf"|(?:\+|%2[bB])?(?:\((?P<area>\d{{1,4}})\){_SEPARATOR}{{0,3}})?(?P<digits>\d+))"
)
"""Where a run of digits starts (an optional `+` or `%2B`, an optional area code in
parentheses, then a group of digits), or a look-alike to skip. Matched only where `_CANDIDATE`
points: searching with it would try every alternative at every character (about 1 µs each)."""
_LINK = re.compile(rf"{_SEPARATOR}{{1,3}}(\d+)")
"""The next group of a run: one to three separators, then digits."""
_CANDIDATE = re.compile(r"[+(%]|\d")
_UUIDS = re.compile(_UUID_BODY)  # fast to search for; then checked for its bounds
_UUID_AT = re.compile(_UUID)
_ENOUGH_DIGITS = re.compile(rf"(?:\D*\d){{{MIN_DIGITS}}}")


def _run(text: str, head: re.Match[str]) -> list[tuple[int, int]]:
    """The groups of digits of the run that `head` starts: read one link at a time, up to the
    first look-alike that ends it. Each group is looked at a bounded number of times, however
    often a run is cut (`1.2 1.2 1.2 ...`): the time is linear in the text."""
    start = head.start()
    groups = [head.span("area")] if head["area"] is not None else []
    groups.append(head.span("digits"))
    index = 0
    while True:
        if index + 1 == len(groups):
            link = _LINK.match(text, groups[-1][1])
            if link is None:
                return groups
            groups.append(link.span(1))
        (group_start, group_end), following = groups[index], groups[index + 1][0]
        lookalike = _AFTER_GAP.match(text, following)
        if lookalike is not None:
            if lookalike["strong"] is not None:
                return groups[: index + 1]
            one_group = index == 0 and group_end - group_start >= MIN_DIGITS
            if _BLANK.search(text, group_end, following) and (
                one_group or _WEAK.fullmatch(text, start, group_end)
            ):
                return groups[: index + 1]
        index += 1


def _masked(text: str, start: int, groups: list[tuple[int, int]]) -> str:
    digits = "".join(text[group_start:group_end] for group_start, group_end in groups)
    if len(digits) < MIN_DIGITS:
        return text[start : groups[-1][1]]
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
    next_uuid = 0  # the UUIDs before it end before `at`, which only moves forward
    pieces: list[str] = []
    done = at = 0
    while (candidate := _CANDIDATE.search(text, at)) is not None:
        at = candidate.start()
        while next_uuid < len(uuids) and uuids[next_uuid][1] <= at:
            next_uuid += 1
        if next_uuid < len(uuids) and uuids[next_uuid][0] <= at:
            at = uuids[next_uuid][1]
            continue
        head = _HEAD.match(text, at)
        if head is None:
            at += 1
        elif head["keep"] is not None:
            at = head.end()
        else:
            groups = _run(text, head)
            pieces += (text[done:at], _masked(text, at, groups))
            done = at = groups[-1][1]
    return "".join(pieces) + text[done:] if pieces else text
