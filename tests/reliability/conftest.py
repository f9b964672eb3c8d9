"""The reliability suite's session: figures written at the end, structlog reset per test.

`RELIABILITY_REPORT=path` writes the figures as JSON when the session ends (`make
reliability` does, then prints them); `RELIABILITY_EXAMPLES=n` sets how many examples each
stateful test runs (few by default, so the plain `pytest` of CI stays fast).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import structlog

from tests.reliability.figures import FIGURES


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if "reliability" not in item.nodeid:
        return
    if report.when == "call" and hasattr(report, "wasxfail") and report.skipped:
        FIGURES.known_engine_bugs += 1
    elif report.failed:
        FIGURES.tests_failed += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("RELIABILITY_REPORT")
    if path:
        FIGURES.dump(path)
