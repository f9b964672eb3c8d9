"""Business-hours schedules: whether one is open at an instant (time zones, daylight saving,
closures, ranges ending at midnight), and the positioned refusals of malformed ones."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from orchestrator.flow.schedule import Schedule, is_open, local_label, next_open, open_ranges
from tests.conftest import problems_of

UTC = dt.UTC


def schedule(**fields: Any) -> Schedule:
    return Schedule.model_validate({"timezone": "Europe/London", **fields})


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


WEEKDAYS = schedule(hours={"mon-fri": ["09:00-17:00"], "sat": ["10:00-12:00", "13:00-14:00"]})


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        ("2026-12-07T08:59:59+00:00", False),  # Monday, a second before opening
        ("2026-12-07T09:00:00+00:00", True),  # the start is open
        ("2026-12-07T16:59:59+00:00", True),
        ("2026-12-07T17:00:00+00:00", False),  # the end is not
        ("2026-12-05T12:30:00+00:00", False),  # Saturday's lunch break
        ("2026-12-05T13:15:00+00:00", True),
        ("2026-12-06T12:00:00+00:00", False),  # Sunday: not listed, closed
        ("2026-12-07T10:00:00-05:00", True),  # 15:00 in London, written in New York time
    ],
)
def test_open_by_the_wall_clock_of_the_schedules_zone(instant: str, expected: bool) -> None:
    assert is_open(WEEKDAYS, at(instant)) is expected


def test_the_same_instant_is_open_in_one_zone_and_closed_in_another() -> None:
    tokyo = Schedule.model_validate({"timezone": "Asia/Tokyo", "hours": {"mon": ["09:00-17:00"]}})
    instant = at("2026-12-07T01:00:00+00:00")  # Monday 10:00 in Tokyo, 01:00 in London
    assert is_open(tokyo, instant)
    assert not is_open(WEEKDAYS, instant)
    assert local_label(tokyo, instant) == "Mon 10:00"


def test_summer_time_moves_the_hours_in_utc() -> None:
    # 08:30 UTC is 09:30 in London in June (BST) but 08:30 in December (GMT).
    assert is_open(WEEKDAYS, at("2027-06-07T08:30:00+00:00"))
    assert not is_open(WEEKDAYS, at("2026-12-07T08:30:00+00:00"))
    assert local_label(WEEKDAYS, at("2027-06-07T08:30:00+00:00")) == "Mon 09:30"


NIGHT = schedule(hours={"sun": ["01:00-03:00"]})


def test_spring_forward_the_skipped_local_hour_is_never_open() -> None:
    # 2027-03-28: London's clocks go from 01:00 GMT to 02:00 BST. A range 01:00-03:00 of
    # wall time is open from 01:00 GMT (01:00 UTC) ... which is already 02:00 BST: one hour.
    assert not is_open(NIGHT, at("2027-03-28T00:59:00+00:00"))  # 00:59 GMT
    assert is_open(NIGHT, at("2027-03-28T01:00:00+00:00"))  # 02:00 BST
    assert is_open(NIGHT, at("2027-03-28T01:59:00+00:00"))  # 02:59 BST
    assert not is_open(NIGHT, at("2027-03-28T02:00:00+00:00"))  # 03:00 BST


def test_fall_back_the_repeated_local_hour_is_open_both_times() -> None:
    # 2026-10-25: London's clocks go back from 02:00 BST to 01:00 GMT; 01:00-01:59 happens
    # twice, and is open both times: three hours of real time that night.
    assert not is_open(NIGHT, at("2026-10-24T23:59:00+00:00"))  # 00:59 BST
    assert is_open(NIGHT, at("2026-10-25T00:00:00+00:00"))  # 01:00 BST
    assert is_open(NIGHT, at("2026-10-25T01:30:00+00:00"))  # 01:30 GMT, the second time
    assert is_open(NIGHT, at("2026-10-25T02:59:00+00:00"))  # 02:59 GMT
    assert not is_open(NIGHT, at("2026-10-25T03:00:00+00:00"))


def test_hours_past_midnight_are_two_ranges_and_24_00_ends_the_day() -> None:
    late = schedule(hours={"fri": ["22:00-24:00"], "sat": ["00:00-02:00"]})
    assert is_open(late, at("2026-12-04T23:59:59+00:00"))  # Friday 23:59
    assert is_open(late, at("2026-12-05T00:00:00+00:00"))  # Saturday 00:00
    assert is_open(late, at("2026-12-05T01:59:00+00:00"))
    assert not is_open(late, at("2026-12-05T02:00:00+00:00"))
    assert open_ranges(late, "fri") == [(22 * 60, 24 * 60)]


def test_closures_close_whole_local_dates_and_inclusive_ranges() -> None:
    holidays = schedule(
        hours={"mon-sun": ["00:00-24:00"]}, closures=["2026-12-25/2026-12-26", "2027-01-01"]
    )
    assert is_open(holidays, at("2026-12-24T23:59:00+00:00"))
    assert not is_open(holidays, at("2026-12-25T00:00:00+00:00"))
    assert not is_open(holidays, at("2026-12-26T23:59:00+00:00"))
    assert is_open(holidays, at("2026-12-27T00:00:00+00:00"))
    assert not is_open(holidays, at("2027-01-01T12:00:00+00:00"))
    # The date is the zone's: 23:30 UTC on Dec 31 is already Jan 1 in Tokyo.
    tokyo = Schedule.model_validate(
        {
            "timezone": "Asia/Tokyo",
            "hours": {"mon-sun": ["00:00-24:00"]},
            "closures": ["2027-01-01"],
        }
    )
    assert not is_open(tokyo, at("2026-12-31T23:30:00+00:00"))
    assert is_open(holidays, at("2026-12-31T23:30:00+00:00"))


DESK = schedule(
    hours={"mon-fri": ["08:00-18:00"], "sat": ["09:00-13:00"]},
    closures=["2026-12-25/2026-12-26", "2027-01-01"],
)


@pytest.mark.parametrize(
    ("instant", "opens"),
    [
        ("2026-12-07T10:00:00+00:00", "2026-12-07T10:00:00+00:00"),  # open: now
        ("2026-12-05T19:02:00+00:00", "2026-12-07T08:00:00+00:00"),  # Saturday night: Monday
        ("2026-12-07T07:59:00+00:00", "2026-12-07T08:00:00+00:00"),  # later the same day
        ("2026-12-24T18:30:00+00:00", "2026-12-28T08:00:00+00:00"),  # over the closures
        ("2026-12-31T20:00:00+00:00", "2027-01-02T09:00:00+00:00"),  # New Year's Day shut
        ("2027-03-27T14:00:00+00:00", "2027-03-29T07:00:00+00:00"),  # 08:00 BST is 07:00 UTC
    ],
)
def test_next_open_is_the_next_local_opening(instant: str, opens: str) -> None:
    assert next_open(DESK, at(instant)) == at(opens)


def test_next_open_across_a_spring_forward_gap() -> None:
    # 01:00 does not happen on 2027-03-28 in London: the range opens at 02:00 BST (01:00 UTC).
    assert next_open(NIGHT, at("2027-03-27T12:00:00+00:00")) == at("2027-03-28T01:00:00+00:00")
    # A range wholly inside the gap is never open that day: next Sunday, 01:00 BST.
    gap = schedule(hours={"sun": ["01:00-02:00"]})
    assert next_open(gap, at("2027-03-27T12:00:00+00:00")) == at("2027-04-04T00:00:00+00:00")


def test_next_open_gives_up_after_two_years_of_closures() -> None:
    shut = schedule(
        hours={"mon-sun": ["09:00-17:00"]},
        closures=["2026-12-01/2027-11-30", "2027-12-01/2028-11-30", "2028-12-01/2029-11-30"],
    )
    assert next_open(shut, at("2026-12-05T12:00:00+00:00")) is None


FLOW = """\
version: 1
name: hours
schedules:
  desk:
    timezone: {zone}
    hours:
      {hours}
    closures: {closures}
steps:
  check:
    type: open_hours
    schedule: {name}
    open: back
    closed: promise
  promise:
    type: callback
    say: We will call you back.
    next: {after}
  back:
    type: return_to_agent
  greet:
    type: announce
    say: Hello.
    next: back
fallback: back
"""


def flow_text(**changes: str) -> str:
    fields = {
        "zone": "Europe/London",
        "hours": 'mon-fri: ["09:00-17:00"]',
        "closures": "[]",
        "name": "desk",
        "after": "back",
    }
    return FLOW.format(**{**fields, **changes})


def test_a_sound_schedule_and_its_steps_load() -> None:
    sound = flow_text().replace(
        "  greet:\n    type: announce\n    say: Hello.\n    next: back\n", ""
    )
    assert problems_of(sound) == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        (
            {"zone": "Europe/Lundon"},
            "5:15: schedules.desk.timezone: unknown time zone Europe/Lundon (did you mean "
            "Europe/London?): use an IANA name like Europe/London, America/New_York or UTC",
        ),
        (
            {"zone": "../../etc/passwd"},
            "5:15: schedules.desk.timezone: unknown time zone: use an IANA name like "
            "Europe/London, America/New_York or UTC",
        ),
        (
            {"hours": 'mon: ["09:00-12:00", "11:30-17:00"]'},
            "7:7: schedules.desk.hours: mon: 09:00-12:00 and 11:30-17:00 overlap; merge them "
            "into one range",
        ),
        (
            {"hours": 'mon-fri: ["09:00-17:00"]\n      fri: ["18:00-20:00"]'},
            "7:7: schedules.desk.hours: fri is in both mon-fri and fri: name each day once (a "
            "day may have several ranges, in one list)",
        ),
        (
            {"hours": 'mon: ["22:00-02:00"]'},
            "7:13: schedules.desk.hours.mon.0: 22:00-02:00 ends before it starts: a range ends "
            'on its own day, so split hours past midnight in two, like mon: ["22:00-24:00"] and '
            'tue: ["00:00-06:00"]',
        ),
        (
            {"hours": 'mon: ["9-17"]'},
            '7:13: schedules.desk.hours.mon.0: hours are "HH:MM-HH:MM", quoted, like '
            '"09:00-17:30"',
        ),
        (
            {"hours": 'mon: ["09:00-24:30"]'},
            "7:13: schedules.desk.hours.mon.0: 09:00-24:30: times run from 00:00 to 24:00 "
            "(24:00 ends the day)",
        ),
        (
            {"hours": 'fri-mon: ["09:00-17:00"]'},
            "7:7: name in schedules.desk.hours: days are mon, tue, wed, thu, fri, sat, sun, or "
            "a range of them in week order like mon-fri",
        ),
        (
            {"hours": "mon: []\n      sat: []"},
            "7:7: schedules.desk.hours: the schedule is never open: give at least one day "
            'hours, like mon-fri: ["09:00-17:00"]',
        ),
        (
            {"closures": '["2026-02-30"]'},
            '8:16: schedules.desk.closures.0: closures are dates, quoted, like "2026-12-25", '
            'or inclusive ranges like "2026-12-24/2026-12-26" (that is not a calendar date)',
        ),
        (
            {"closures": '["2026-12-26/2026-12-24"]'},
            "8:16: schedules.desk.closures.0: 2026-12-26/2026-12-24: the range ends before it "
            "starts; write start/end",
        ),
        (
            {"name": "dsk"},
            "12:15: steps.check.schedule: unknown schedule 'dsk' (did you mean 'desk'?); "
            "define it under schedules; its schedules: desk",
        ),
        (
            {"after": "greet"},
            "18:11: steps.promise.next: a callback step ends the transfer, so its next must "
            "be a return_to_agent or hangup step; 'greet' is a step of type announce",
        ),
    ],
)
def test_malformed_schedules_are_refused_where_they_are_written(
    changes: dict[str, str], problem: str
) -> None:
    assert problems_of(flow_text(**changes))[:1] == [problem]


def test_a_callback_cannot_leave_an_answered_supervisor_waiting() -> None:
    text = flow_text().replace(
        "  greet:\n    type: announce\n    say: Hello.\n    next: back\n",
        "  hold:\n    type: hold\n    next: ring\n"
        "  ring:\n    type: dial\n    to: [boss]\n    next: promise\n",
    )
    text = (
        text.replace("open: back", "open: hold") + 'targets:\n  boss: {number: "+15105550100"}\n'
    )
    assert problems_of(text)[:1] == [
        "16:11: step 'promise' can run while an answered supervisor waits on the line; brief "
        "and merge them, or send the flow here from a failure outcome"
    ]


def test_a_callback_names_a_schedule_the_flow_has() -> None:
    text = flow_text().replace(
        "    next: back\n  back:", "    schedule: dezk\n    next: back\n  back:"
    )
    assert problems_of(text) == [
        "18:15: steps.promise.schedule: unknown schedule 'dezk' (did you mean 'desk'?); "
        "define it under schedules; its schedules: desk"
    ]


@pytest.mark.parametrize(
    ("zone", "problem"),
    [
        (
            "localtime",
            "time zone localtime is the machine's own zone, so the hours would change with the "
            "machine the flow runs on: use an IANA Area/City name like Europe/London, "
            "America/New_York or UTC",
        ),
        (
            "posixrules",
            "time zone posixrules is a file of the zone database, not a zone: use an IANA "
            "Area/City name like Europe/London, America/New_York or UTC",
        ),
        (
            "Factory",
            "time zone Factory is the zone database's placeholder for an unset zone, not a "
            "place: use an IANA Area/City name like Europe/London, America/New_York or UTC",
        ),
        (
            "US/Pacific",
            "time zone US/Pacific is a legacy alias of America/Los_Angeles: write "
            "America/Los_Angeles, its canonical name",
        ),
        (
            "GB",
            "time zone GB is a legacy alias of Europe/London: write Europe/London, its "
            "canonical name",
        ),
        ("UCT", "time zone UCT is a legacy alias of UTC: write UTC, its canonical name"),
        (
            "EST5EDT",
            "time zone EST5EDT is a legacy zone named for its rules: use an IANA Area/City name "
            "like Europe/London, America/New_York or UTC",
        ),
        (
            "utc",
            "unknown time zone utc (did you mean UTC?): use an IANA name like Europe/London, "
            "America/New_York or UTC",
        ),
        (
            "europe/london",
            "unknown time zone europe/london (did you mean Europe/London?): use an IANA name "
            "like Europe/London, America/New_York or UTC",
        ),
    ],
)
def test_zones_that_are_no_place_or_legacy_aliases_are_refused_with_the_name_to_write(
    zone: str, problem: str
) -> None:
    assert problems_of(flow_text(zone=zone)) == [f"5:15: schedules.desk.timezone: {problem}"]


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC", "Etc/GMT+5", "Europe/Oslo", "Asia/Kolkata"])
def test_area_city_zones_utc_and_fixed_offsets_are_accepted(zone: str) -> None:
    assert Schedule.model_validate({"timezone": zone, "hours": {"mon": ["09:00-17:00"]}})


def test_next_open_inside_a_spring_forward_gap_is_the_gaps_end() -> None:
    # New York skips 02:00-03:00 on 2026-03-08: 02:30-04:00 is open from 03:00 EDT.
    early = Schedule.model_validate(
        {"timezone": "America/New_York", "hours": {"sun": ["02:30-04:00"]}}
    )
    assert is_open(early, at("2026-03-08T07:00:00+00:00"))  # 03:00 EDT
    assert not is_open(early, at("2026-03-08T06:59:59+00:00"))  # 01:59:59 EST
    assert next_open(early, at("2026-03-08T06:00:00+00:00")) == at("2026-03-08T07:00:00+00:00")
    # Not in a gap: the wall time itself (the first of two on a fall-back night).
    assert next_open(early, at("2026-03-14T12:00:00+00:00")) == at("2026-03-15T06:30:00+00:00")
    back = Schedule.model_validate(
        {"timezone": "America/New_York", "hours": {"sun": ["01:30-02:00"]}}
    )
    assert next_open(back, at("2026-11-01T04:00:00+00:00")) == at("2026-11-01T05:30:00+00:00")


def test_closures_back_to_back_may_not_keep_a_schedule_shut_past_a_year() -> None:
    # 2026 (365 days) and New Year's Day 2027: 366 days in a row, the most a closure may be.
    year = '["2026-07-01/2026-12-31", "2027-01-01", "2026-01-01/2026-06-30"]'
    greet = "  greet:\n    type: announce\n    say: Hello.\n    next: back\n"
    assert problems_of(flow_text(closures=year).replace(greet, "")) == []
    # One more day, written in any order (and overlapping): refused at the run's first.
    longer = '["2026-07-01/2027-01-02", "2027-01-01", "2026-01-01/2026-07-30"]'
    assert problems_of(flow_text(closures=longer)) == [
        "8:55: schedules.desk.closures: the closures from 2026-01-01 close it 367 days in a "
        "row, to 2027-01-02; at most 366 (longer, it is shut, not on holiday, and may never "
        "open again): shorten or remove those closures"
    ]


def test_an_open_hours_step_whose_open_and_closed_are_the_same_is_refused() -> None:
    same = flow_text().replace("closed: promise", "closed: back")
    assert problems_of(same)[:1] == [
        "14:13: steps.check: open and closed both go to 'back', so the schedule decides "
        "nothing; send closed to another step (like a callback), or remove the step and go "
        "to 'back' directly"
    ]
