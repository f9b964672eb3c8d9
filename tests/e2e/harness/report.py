"""Print the figures of an end-to-end run: a readable table, then one JSON line (the last).

Usage: python -m tests.e2e.harness.report FIGURES.json
The figures were counted by the tests as they ran (`tests/e2e/harness/figures.py`).
"""

from __future__ import annotations

import sys

from tests.report import Gates, show

GATES: Gates = {
    "e2e_passed": lambda f: f["e2e_passed"] == f["e2e_scenarios"] > 0,
    "conformance_differences": lambda f: f["conformance_differences"] == 0,
    "invite_from_is_caller": lambda f: f["invite_from_is_caller"] is True,
    "leaks_found": lambda f: f["leaks_found"] == 0,
    "worker_passed": lambda f: f["worker_passed"] == f["worker_scenarios"] > 0,
    "recoveries_passed": lambda f: f["recoveries_passed"] == f["recovery_scenarios"] > 0,
    # Issue 19's bounds: measured at the phones; 0 would mean nothing was measured.
    "after_merge_release_ms": lambda f: 0 < f["after_merge_release_ms"] <= 2000,
    "ringing_cancel_ms": lambda f: 0 < f["ringing_cancel_ms"] <= 2000,
    "decline_release_ms": lambda f: 0 < f["decline_release_ms"] <= f["decline_first_word_ms"],
    "watchdog_recoveries_passed": lambda f: (
        f["watchdog_recoveries_passed"] == f["watchdog_scenarios"] > 0
    ),
    "watchdog_forged_refused": lambda f: f["watchdog_forged_refused"] == f["watchdog_scenarios"],
    "studio_browser_passed": lambda f: f["studio_browser_passed"] == f["studio_browser_tests"] > 0,
    "report_browser_passed": lambda f: f["report_browser_passed"] == f["report_browser_tests"] > 0,
    # Issue 24: the real worker's telemetry in real backends, the real stack's speed
    # (docs/real-stack-speed.md); None would mean nothing was measured.
    "otel_trace_checked": lambda f: f["otel_trace_checked"] is True,
    "prometheus_checked": lambda f: f["prometheus_checked"] is True,
    "real_time_to_hold_ms": lambda f: (f["real_time_to_hold_ms"] or 0) > 0,
    "real_time_to_ring_ms": lambda f: (f["real_time_to_ring_ms"] or 0) > 0,
    "real_accept_to_merged_ms": lambda f: (f["real_accept_to_merged_ms"] or 0) > 0,
    "real_engine_ms": lambda f: (f["real_engine_ms"] or 0) > 0,
    "sandbox_time_to_hold_ms": lambda f: (f["sandbox_time_to_hold_ms"] or 0) > 0,
    "sandbox_time_to_ring_ms": lambda f: (f["sandbox_time_to_ring_ms"] or 0) > 0,
    "sandbox_accept_to_merged_ms": lambda f: (f["sandbox_accept_to_merged_ms"] or 0) > 0,
    # Issue 25: the conversational brief with the real worker (at least three scenarios).
    "brief_conversation_passed": lambda f: f["brief_conversation_passed"] is True,
    # Issue 23: ring groups on the real stack (three sipp phones at once).
    "ring_group_passed": lambda f: f["ring_group_passed"] is True,
    "ring_group_extra_legs_left": lambda f: f["ring_group_extra_legs_left"] == 0,
    "tests_failed": lambda f: f["tests_failed"] == 0,
}

if __name__ == "__main__":
    title = "end-to-end figures (counted by the tests, real stack and sandbox)"
    sys.exit(show(sys.argv[1] if len(sys.argv) > 1 else "build/e2e.json", title, GATES))
