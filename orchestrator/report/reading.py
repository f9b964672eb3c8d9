"""Reading JSON log lines into one record per transfer, and counting the lines it could not use.

The report's input layer: it knows the log events the library writes (`transfer.started`,
`transfer.transition`, `dial.request`, `transfer.finished`, `transfer.call_ended`) and
nothing about figures. Lines are grouped by `transfer_id`, so transfers whose lines are
interleaved (several calls, several workers, several files) are each one record.

Every line is one of: *used* (one of those events, well formed), *skipped* (a JSON object
the report has no use for: the library's other events, another program's lines) or
*unreadable* (not JSON, not an object, or one of those events with a field missing or of
the wrong type). Nothing in a line raises.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from orchestrator.logs import mask

__all__ = ["Dialled", "Finish", "LineProblem", "Reading", "Record", "read_lines"]

PROBLEMS_KEPT = 5
"""How many unreadable lines are named (`PATH:LINE: why`); the rest are only counted."""

_USED = frozenset(
    {
        "transfer.started",
        "transfer.transition",
        "dial.request",
        "transfer.finished",
        "transfer.call_ended",
    }
)


class _Unreadable(ValueError):
    """A line the report cannot use; the message says why (never quoting the line)."""


@dataclass(frozen=True)
class Dialled:
    """One dial attempt, from `transfer.finished`'s `dials`."""

    target: str
    result: str
    seconds: float | None
    sip_status: int | None


@dataclass(frozen=True)
class Finish:
    """The fields of `transfer.finished` the figures use."""

    outcome: str
    reason: str | None
    hold_seconds: float | None
    time_to_supervisor_seconds: float | None
    attempts: int | None
    dials: tuple[Dialled, ...] | None
    """None when the log predates `dials` (or a recovering worker wrote the outcome)."""


@dataclass
class Record:
    """Everything the log says about one transfer."""

    transfer_id: str
    flow: str | None = None
    started: bool = False
    finish: Finish | None = None
    dial_requests: int = 0
    declines_after: list[int] = field(default_factory=list)
    """For each transition triggered `declined`: the index of the dial in effect (-1: none)."""
    call_ended: list[str] = field(default_factory=list)
    """Who hung up first, for each end of a merged call (`caller`, `supervisor`, ...)."""


@dataclass(frozen=True)
class LineProblem:
    source: str
    line: int
    why: str

    def render(self) -> str:
        return f"{self.source}:{self.line}: {self.why}"


@dataclass
class Reading:
    """The records by transfer id, in order of first appearance, and the line counts."""

    records: dict[str, Record] = field(default_factory=dict)
    lines: int = 0
    """Non-blank lines read."""
    used: int = 0
    skipped: int = 0
    unreadable: int = 0
    problems: list[LineProblem] = field(default_factory=list)

    def read(self, source: str, stream: IO[bytes]) -> None:
        """Read one log (a file or stdin, as bytes: undecodable bytes are replaced)."""
        for number, raw in enumerate(stream, start=1):
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            self.lines += 1
            try:
                used = self._line(text)
            except _Unreadable as problem:
                self.unreadable += 1
                if len(self.problems) < PROBLEMS_KEPT:
                    self.problems.append(LineProblem(source, number, str(problem)))
                continue
            if used:
                self.used += 1
            else:
                self.skipped += 1

    def _line(self, text: str) -> bool:
        try:
            line = json.loads(text)
        except (ValueError, RecursionError):
            raise _Unreadable("not JSON") from None
        if not isinstance(line, dict):
            raise _Unreadable("not a JSON object")
        event = line.get("event")
        if event not in _USED:
            return False
        transfer_id = _text(line, "transfer_id")
        flow = _maybe_text(line, "flow")
        update = _PARSERS[event](line)  # validate the whole line before touching a record
        record = self.records.get(transfer_id)
        if record is None:
            record = self.records[transfer_id] = Record(transfer_id)
        if flow is not None:
            record.flow = flow
        update(record)
        return True


def read_lines(sources: Iterable[tuple[str, IO[bytes]]]) -> Reading:
    """Read logs given as (name, byte stream) pairs into one `Reading`."""
    reading = Reading()
    for source, stream in sources:
        reading.read(source, stream)
    return reading


# Each parser checks a line and returns what it does to the transfer's record.
_Update = Callable[[Record], None]


def _started(_: dict[str, Any]) -> _Update:
    def update(record: Record) -> None:
        record.started = True

    return update


def _transition(line: dict[str, Any]) -> _Update:
    trigger = _text(line, "trigger")

    def update(record: Record) -> None:
        if trigger == "declined":
            record.declines_after.append(record.dial_requests - 1)

    return update


def _dial(_: dict[str, Any]) -> _Update:
    def update(record: Record) -> None:
        record.dial_requests += 1

    return update


def _finished(line: dict[str, Any]) -> _Update:
    finish = Finish(
        outcome=_text(line, "outcome"),
        reason=_maybe_text(line, "reason"),
        hold_seconds=_seconds(line, "hold_seconds"),
        time_to_supervisor_seconds=_seconds(line, "time_to_supervisor_seconds"),
        attempts=_count(line.get("attempts"), "attempts"),
        dials=_dials(line.get("dials")),
    )

    def update(record: Record) -> None:
        record.finish = finish  # a later line (a recovering worker's) wins

    return update


def _call_ended(line: dict[str, Any]) -> _Update:
    first = _maybe_text(line, "hung_up_first") or "nobody"

    def update(record: Record) -> None:
        record.call_ended.append(first)

    return update


_PARSERS = {
    "transfer.started": _started,
    "transfer.transition": _transition,
    "dial.request": _dial,
    "transfer.finished": _finished,
    "transfer.call_ended": _call_ended,
}


def _text(line: dict[str, Any], key: str) -> str:
    value = _maybe_text(line, key)
    if value is None:
        raise _Unreadable(f"{line['event']}: `{key}` missing")
    return value


def _maybe_text(line: dict[str, Any], key: str) -> str | None:
    value = line.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _Unreadable(f"{line['event']}: `{key}` {'empty' if value == '' else 'not a string'}")
    return mask(value)  # what a report prints comes from logs: masked and escaped again


def _seconds(line: dict[str, Any], key: str) -> float | None:
    value = line.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Unreadable(f"{line['event']}: `{key}` is not a number of seconds")
    return float(value)


def _count(value: Any, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Unreadable(f"transfer.finished: `{key}` is not a count")
    return value


def _dials(value: Any) -> tuple[Dialled, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(d, dict) for d in value):
        raise _Unreadable("transfer.finished: `dials` is not a list of objects")
    dials = []
    for dial in value:
        entry = {"event": "transfer.finished", **dial}
        status = dial.get("sip_status_code")
        if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
            raise _Unreadable("transfer.finished: a dial's `sip_status_code` is not a number")
        dials.append(
            Dialled(
                target=_text(entry, "target"),
                result=_text(entry, "result"),
                seconds=_seconds(entry, "seconds"),
                sip_status=status,
            )
        )
    return tuple(dials)
