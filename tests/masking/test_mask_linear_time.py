"""The masker's work grows linearly with the text, on inputs that once made it quadratic
(issue 20 follow-up, M1: `'1.2 ' * 16_000` took 20 s).

Measured without a clock, so the result is the same on every machine: the work is the number
of lines of `orchestrator.masking` executed plus the characters its regular expressions
scan: from where each search or match starts to where its match ends, or to the end of the
text when a search finds nothing (an anchored match that fails counts one: the patterns'
backtracking is bounded, which `test_masking.py` checks on a long run). A rescan of the rest
of the text after each short decimal counts every character again, and shows as work that
grows with the square of the length."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

from orchestrator import masking


class _Counted:
    """A compiled pattern that adds what each of its searches scans to `work`."""

    def __init__(self, pattern: re.Pattern[str], work: list[int]) -> None:
        self._pattern, self._work = pattern, work

    def _scanned(self, found: re.Match[str] | None, text: str, pos: int, endpos: int) -> None:
        self._work[0] += (found.end() if found is not None else min(len(text), endpos)) - pos

    def _tried(self, found: re.Match[str] | None, pos: int) -> None:
        self._work[0] += found.end() - pos if found is not None else 1

    def match(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        found = self._pattern.match(text, pos, endpos)
        self._tried(found, pos)
        return found

    def search(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        found = self._pattern.search(text, pos, endpos)
        self._scanned(found, text, pos, endpos)
        return found

    def fullmatch(
        self, text: str, pos: int = 0, endpos: int = sys.maxsize
    ) -> re.Match[str] | None:
        found = self._pattern.fullmatch(text, pos, endpos)
        self._tried(found, pos)
        return found

    def finditer(
        self, text: str, pos: int = 0, endpos: int = sys.maxsize
    ) -> Iterator[re.Match[str]]:
        at = pos
        for found in self._pattern.finditer(text, pos, endpos):
            self._work[0] += found.end() - at
            at = found.end()
            yield found
        self._work[0] += min(len(text), endpos) - at

    def findall(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> list[Any]:
        self._work[0] += min(len(text), endpos) - pos
        return self._pattern.findall(text, pos, endpos)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pattern, name)


def work(text: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """Lines of `orchestrator.masking` run, plus characters its patterns scan, to mask `text`."""
    counter = [0]
    for name, value in vars(masking).items():
        if isinstance(value, re.Pattern):
            monkeypatch.setattr(masking, name, _Counted(value, counter))

    def line(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            counter[0] += 1
        return line

    def call(frame: FrameType, event: str, arg: Any) -> Any:
        return line if frame.f_code.co_filename == masking.__file__ else None

    previous = sys.gettrace()
    sys.settrace(call)
    try:
        masking.mask_numbers(text)
    finally:
        sys.settrace(previous)
    monkeypatch.undo()
    return counter[0]


@pytest.mark.parametrize(
    "piece",
    [
        pytest.param("1.2 ", id="short-decimals"),
        pytest.param("1.2%20", id="short-decimals-percent-encoded"),
        pytest.param("1 12345678-1234-1234-1234-123456789012 ", id="uuids"),
        pytest.param("3004.21 19.9 ", id="durations"),
        pytest.param("1 127.0.0.1 ", id="addresses"),
        pytest.param("1 2026-12-06 ", id="dates"),
        pytest.param("1.2\\xa0", id="escaped-spaces"),
        pytest.param("1 (1) ", id="parentheses"),
        pytest.param("%221%22", id="percent-escapes"),
        pytest.param("+1415***2671 ", id="masked-already"),
    ],
)
def test_masking_works_in_time_linear_in_the_length(
    piece: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    short, long = piece * 125, piece * 1000
    short_work, long_work = work(short, monkeypatch), work(long, monkeypatch)
    # 8 times the text: at most about 8 times the work (quadratic work would be 64 times).
    assert long_work <= 9 * short_work
    assert long_work <= 40 * len(long)
