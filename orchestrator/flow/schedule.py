"""Business hours: a schedule (weekly hours in an IANA time zone, and dated closures) and
whether it is open at an instant.

Hours are wall-clock times in the schedule's zone, read at the instant asked about: a
range `09:00-17:00` is open while the clocks on the wall there show 09:00 to 16:59. So on
the day the clocks go forward, local times that never happen are never open (a range
`01:00-03:00` in Europe/London is open one hour that night, not two), and on the day they
go back, the repeated hour is open both times if its wall time is in a range. A range
ends on its own day (`24:00` is the end of the day); hours past midnight are two ranges,
one on each day. A closure is a whole local date, or an inclusive range of dates.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import itertools
import re
import zoneinfo
from importlib import resources
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "DAYS",
    "MAX_CLOSED_DAYS",
    "Schedule",
    "closed_too_long",
    "is_open",
    "local_label",
    "next_open",
    "open_ranges",
]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ZONE = re.compile(r"[A-Za-z0-9_+\-]{1,30}(/[A-Za-z0-9_+\-]{1,30}){0,2}")
_RANGE = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)")
_DAY_KEY = re.compile(r"(mon|tue|wed|thu|fri|sat|sun)(?:-(mon|tue|wed|thu|fri|sat|sun))?")
_DATE = re.compile(r"\d{4}-\d\d-\d\d")
MAX_CLOSED_DAYS = 366
"""The most days in a row a closure, or closures back to back, may close a schedule."""
_MAX_CLOSURE_DAYS = MAX_CLOSED_DAYS
_LOOK_AHEAD_DAYS = 2 * _MAX_CLOSURE_DAYS


_NOT_ZONES = {
    "localtime": "is the machine's own zone, so the hours would change with the machine the "
    "flow runs on",
    "posixrules": "is a file of the zone database, not a zone",
    "Factory": "is the zone database's placeholder for an unset zone, not a place",
}
_FIX = "use an IANA Area/City name like Europe/London, America/New_York or UTC"


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@functools.cache
def _canonical() -> tuple[frozenset[str], dict[str, str]]:
    """The names a flow may use, and each other name's canonical one, from the `tzdata`
    package (the same on every machine): the Area/City zones of its zone.tab, `UTC` and
    the fixed `Etc/` zones; a legacy alias (a link: `US/Pacific`, `GB`, `EST`) maps to the
    zone it names."""
    data = resources.files("tzdata.zoneinfo")
    table = (data / "zone.tab").read_text(encoding="utf-8")
    places = {line.split("\t")[2] for line in table.splitlines() if line[:1] not in ("#", "")}
    links: dict[str, str] = {}
    for line in (data / "tzdata.zi").read_text(encoding="utf-8").splitlines():
        kind, *names = line.split()
        if kind == "Z" and names[0].startswith("Etc/"):
            places.add(names[0])
        elif kind == "L":
            links[names[1]] = names[0]
    places.add("UTC")
    return frozenset(places & _zones()), links


def _time_zone(value: Any) -> str:
    """An Area/City zone (or UTC): the machine's zone, the database's files and legacy
    aliases are refused, each with the name to write instead."""
    if not isinstance(value, str):
        raise ValueError("timezone is an IANA time zone name, quoted, like Europe/London")
    places, links = _canonical()
    if value in places and _ZONE.fullmatch(value):
        return value
    if value in _NOT_ZONES:
        raise ValueError(f"time zone {value} {_NOT_ZONES[value]}: {_FIX}")
    if value in _zones() and _ZONE.fullmatch(value):
        target = links.get(value, "")
        target = "UTC" if target in ("Etc/UTC", "Etc/GMT") else target
        if target in places:
            raise ValueError(
                f"time zone {value} is a legacy alias of {target}: write {target}, its "
                "canonical name"
            )
        raise ValueError(f"time zone {value} is a legacy zone named for its rules: {_FIX}")
    shown = f" {value}" if _ZONE.fullmatch(value) else ""
    same = [name for name in sorted(places) if name.lower() == value.lower()]
    close = same or (
        difflib.get_close_matches(value, sorted(places), n=1) if len(value) < 40 else []
    )
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise ValueError(
        f"unknown time zone{shown}{hint}: use an IANA name like Europe/London, "
        "America/New_York or UTC"
    )


def _minutes(hour: str, minute: str) -> int:
    return int(hour) * 60 + int(minute)


def _hours(value: Any) -> str:
    match = _RANGE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError('hours are "HH:MM-HH:MM", quoted, like "09:00-17:30"')
    start_h, start_m, end_h, end_m = match.groups()
    start, end = _minutes(start_h, start_m), _minutes(end_h, end_m)
    if int(start_m) > 59 or int(end_m) > 59 or start >= 24 * 60 or end > 24 * 60:
        raise ValueError(f"{value}: times run from 00:00 to 24:00 (24:00 ends the day)")
    if end <= start:
        raise ValueError(
            f"{value} ends before it starts: a range ends on its own day, so split hours "
            'past midnight in two, like mon: ["22:00-24:00"] and tue: ["00:00-06:00"]'
        )
    return str(value)


def _span(text: str) -> tuple[int, int]:
    """A checked `HH:MM-HH:MM` as minutes from midnight, end excluded."""
    match = _RANGE.fullmatch(text)
    assert match is not None
    start_h, start_m, end_h, end_m = match.groups()
    return _minutes(start_h, start_m), _minutes(end_h, end_m)


def _day_key(value: Any) -> str:
    match = _DAY_KEY.fullmatch(value) if isinstance(value, str) else None
    if match is None or (match[2] and DAYS.index(match[2]) <= DAYS.index(match[1])):
        raise ValueError(
            "days are mon, tue, wed, thu, fri, sat, sun, or a range of them in week order "
            "like mon-fri"
        )
    return str(value)


def _days(key: str) -> list[str]:
    first, _, last = key.partition("-")
    return list(DAYS[DAYS.index(first) : DAYS.index(last or first) + 1])


def _date(text: str) -> dt.date:
    if not _DATE.fullmatch(text):
        raise ValueError
    return dt.date.fromisoformat(text)


def _closure(value: Any) -> str:
    words = (
        'closures are dates, quoted, like "2026-12-25", or inclusive ranges like '
        '"2026-12-24/2026-12-26"'
    )
    if not isinstance(value, str):
        raise ValueError(words)
    first, _, last = value.partition("/")
    try:
        start, end = _date(first), _date(last or first)
    except ValueError:
        raise ValueError(f"{words} (that is not a calendar date)") from None
    if end < start:
        raise ValueError(f"{value}: the range ends before it starts; write start/end")
    if (end - start).days >= _MAX_CLOSURE_DAYS:
        raise ValueError(f"{value}: a closure is at most {_MAX_CLOSURE_DAYS} days")
    return value


def _closure_dates(text: str) -> tuple[dt.date, dt.date]:
    first, _, last = text.partition("/")
    return dt.date.fromisoformat(first), dt.date.fromisoformat(last or first)


def closed_too_long(schedule: Schedule) -> tuple[int, dt.date, dt.date] | None:
    """The first run of closures back to back (or overlapping) that closes more than
    `MAX_CLOSED_DAYS` days in a row, as (index of its first closure, first day, last day);
    None if every run is shorter. Such a run is a schedule that stays closed (`next_open`
    finds no opening) rather than a holiday; without one, a schedule with weekly hours opens
    within `MAX_CLOSED_DAYS` + 6 days of any moment."""
    spans = sorted((*_closure_dates(text), index) for index, text in enumerate(schedule.closures))
    run: tuple[dt.date, dt.date, int] | None = None
    for start, end, index in spans:
        if run is not None and start <= run[1] + dt.timedelta(days=1):
            run = (run[0], max(run[1], end), run[2])
        else:
            run = (start, end, index)
        if (run[1] - run[0]).days >= MAX_CLOSED_DAYS:
            return run[2], run[0], run[1]
    return None


def _weekly(value: dict[str, list[str]]) -> dict[str, list[str]]:
    """Each day named once; a day's ranges do not overlap; some day has hours."""
    seen: dict[str, str] = {}
    for key, ranges in value.items():
        for day in _days(key):
            if day in seen:
                raise ValueError(
                    f"{day} is in both {seen[day]} and {key}: name each day once "
                    "(a day may have several ranges, in one list)"
                )
            seen[day] = key
        spans = sorted((*_span(text), text) for text in ranges)
        for (_, end, before), (start, _, after) in itertools.pairwise(spans):
            if start < end:
                raise ValueError(f"{key}: {before} and {after} overlap; merge them into one range")
    if not any(value.values()):
        raise ValueError(
            "the schedule is never open: give at least one day hours, like mon-fri: "
            '["09:00-17:00"]'
        )
    return value


DayKey = Annotated[str, BeforeValidator(_day_key), Field(examples=["mon-fri", "sat"])]
Hours = Annotated[
    str,
    BeforeValidator(_hours),
    Field(examples=["09:00-17:30"], json_schema_extra={"pattern": _RANGE.pattern}),
]
Closure = Annotated[
    str, BeforeValidator(_closure), Field(examples=["2026-12-25", "2026-12-24/2026-12-26"])
]
TimeZone = Annotated[str, BeforeValidator(_time_zone), Field(examples=["Europe/London"])]


class Schedule(BaseModel):
    """When a team takes calls: weekly hours in a time zone, less dated closures."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    timezone: TimeZone = Field(description="IANA time zone the hours are in.")
    hours: Annotated[
        dict[DayKey, Annotated[list[Hours], Field(max_length=24)]],
        AfterValidator(_weekly),
        Field(max_length=7),
    ] = Field(
        description='Day (mon ... sun) or days (mon-fri) to open ranges, like ["09:00-12:00", '
        '"13:00-17:30"]; a day not listed is closed. A range ends by 24:00 of its day.'
    )
    closures: list[Closure] = Field(
        [],
        max_length=500,
        description='Local dates closed all day ("2026-12-25") or inclusive ranges '
        '("2026-12-24/2026-12-26"): holidays.',
    )


def open_ranges(schedule: Schedule, day: str) -> list[tuple[int, int]]:
    """The open ranges of a weekday (`mon` ... `sun`), as minutes from midnight, sorted."""
    return sorted(
        _span(text)
        for key, ranges in schedule.hours.items()
        if day in _days(key)
        for text in ranges
    )


def _zone(schedule: Schedule) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(schedule.timezone)


def _closed_on(schedule: Schedule, day: dt.date) -> bool:
    for text in schedule.closures:
        start, end = _closure_dates(text)
        if start <= day <= end:
            return True
    return False


def is_open(schedule: Schedule, instant: dt.datetime) -> bool:
    """Whether the schedule is open at `instant` (an aware datetime), read on the wall
    clocks of its zone: closed on a closure's dates, else open in a range of that weekday."""
    local = instant.astimezone(_zone(schedule))
    if _closed_on(schedule, local.date()):
        return False
    minute = local.hour * 60 + local.minute
    return any(
        start <= minute < end for start, end in open_ranges(schedule, DAYS[local.weekday()])
    )


def next_open(schedule: Schedule, instant: dt.datetime) -> dt.datetime | None:
    """`instant` if the schedule is open then, else when it next opens (in UTC); None if it
    stays closed for the next two years (closures back to back)."""
    if is_open(schedule, instant):
        return instant
    zone = _zone(schedule)
    today = instant.astimezone(zone).date()
    for ahead in range(_LOOK_AHEAD_DAYS):
        day = today + dt.timedelta(days=ahead)
        if _closed_on(schedule, day):
            continue
        for start, _ in open_ranges(schedule, DAYS[day.weekday()]):
            wall = dt.datetime.combine(day, dt.time(start // 60, start % 60), tzinfo=zone)
            opening = _first_instant(wall)
            # A range wholly inside a spring-forward gap is never open: taken if open there.
            if opening > instant and is_open(schedule, opening):
                return opening
    return None


def _first_instant(wall: dt.datetime) -> dt.datetime:
    """The first instant (UTC) the zone's clocks show `wall` or later: `wall` itself, the
    first of two on a fall-back night, or the gap's end if the clocks skip it."""
    zone = wall.tzinfo
    earlier, later = (wall.replace(fold=fold).astimezone(dt.UTC) for fold in (0, 1))
    if earlier <= later:  # it happens (once, or twice: `fold=0` is the first)
        return earlier
    # Skipped: with the offset after the gap it maps before the gap (`later`), with the one
    # before it, past the gap's end (`earlier`). The offset changes between, on a second.
    before, after = int(later.timestamp()), int(earlier.timestamp())
    offset = later.astimezone(zone).utcoffset()
    while after - before > 1:
        middle = (before + after) // 2
        if dt.datetime.fromtimestamp(middle, zone).utcoffset() == offset:
            before = middle
        else:
            after = middle
    return dt.datetime.fromtimestamp(after, dt.UTC)


def local_label(schedule: Schedule, instant: dt.datetime) -> str:
    """`instant` as the zone's wall clock shows it, like `Sat 19:02`."""
    local = instant.astimezone(_zone(schedule))
    return f"{DAYS[local.weekday()].capitalize()} {local:%H:%M}"
