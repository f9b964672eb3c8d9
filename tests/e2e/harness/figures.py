"""The figures of an end-to-end run, counted by the tests as they run (never typed in).

`conftest.py` feeds every test report to `record()` and writes the figures to `$E2E_REPORT`
at the end; `report.py` prints them (the last line of `make e2e`; docs/real-stack.md
says what each means).

* A scenario is a test of `test_transfers.py`, `test_call_lifecycle.py` or `test_ring_group.py`
  on the real server.
* A conformance check is a test of `test_conformance_*.py`; it runs on both targets. It is a
  difference when the real server fails it, or the sandbox fails it without the check being
  marked as a documented limit (`xfail`, whose reason docs/sandbox.md lists).
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from stack.build import versions

__all__ = ["FIGURES", "Figures"]


@dataclass
class Figures:
    e2e_scenarios: int = 0
    e2e_passed: int = 0
    conformance_checks: int = 0
    conformance_differences: int = 0
    conformance_documented: int = 0
    invite_from_is_caller: bool = False
    preserve_invites: int = 0
    leaks_found: int = 0
    worker_scenarios: int = 0
    worker_passed: int = 0
    rtp_paths_verified: int = 0
    """Audio paths between phones seen in their RTP: the caller hears the hold music, the
    supervisor hears the brief, each hears the other after the merge."""
    recovery_scenarios: int = 0
    recoveries_passed: int = 0
    supervisor_heard_caller_ms: float = 0.0
    """`in_room`: the longest the supervisor's phone got the caller's audio after answering,
    before the engine's cut applied (the RTP it received)."""
    after_merge_release_ms: float = 0.0
    """After a merge, the longest from one phone's BYE to the other phone's BYE (either side
    hanging up first; the phones' SIP traces)."""
    ringing_cancel_ms: float = 0.0
    """The longest from the caller's BYE to the CANCEL at a ringing supervisor's phone."""
    decline_release_ms: float = 0.0
    """From the supervisor's decline digit to the BYE at their phone."""
    decline_first_word_ms: float = 0.0
    """From that digit to the AI's first word to the caller (after the BYE, always)."""
    watchdog_scenarios: int = 0
    watchdog_recoveries_passed: int = 0
    """Workers killed mid-transfer whose agent `orchestrator watchdog` dispatched again (the
    test dispatches nothing itself)."""
    watchdog_forged_refused: int = 0
    """Forged webhooks (signed with another secret) the watchdog refused, one per scenario."""
    watchdog_recovery_s: float = 0.0
    """The longest from the SIGKILL to the new job's recovery (about 20 s of it is LiveKit
    noticing that the agent is gone)."""
    studio_browser_tests: int = 0
    studio_browser_passed: int = 0
    """`orchestrator studio` driven in chromium (`test_studio_browser.py`); skipped tests not
    counted."""
    report_browser_tests: int = 0
    report_browser_passed: int = 0
    """`orchestrator report --html`'s page opened in chromium (`test_report_browser.py`);
    skipped tests not counted."""
    negotiate_answered_legs: int = 0
    negotiate_failed_legs: int = 0
    """Of those answered `in_room` legs (`test_negotiate.py`), the ones livekit-server closed
    with `NEGOTIATE_FAILED` (its log); `python -m tests.e2e.harness.negotiate` runs 30 or more."""
    otel_trace_checked: bool = False
    """Jaeger (over OTLP) held every real-worker transfer's trace, in the shape
    docs/telemetry.md gives (`test_observability.py`); false when not checked or it did not."""
    prometheus_checked: bool = False
    """Prometheus, scraping the real worker, counted the transfers by outcome."""
    real_time_to_hold_ms: float | None = None
    """p50 over the real-worker scenarios of `test_observability.py` (docs/real-stack-speed.md
    defines these four): transfer asked for to hold music at the caller's phone."""
    real_time_to_ring_ms: float | None = None
    """Transfer asked for to the INVITE at the supervisor's phone."""
    real_accept_to_merged_ms: float | None = None
    """The supervisor's "1" sent to both phones hearing each other."""
    real_engine_ms: float | None = None
    """The engine's own time in a transfer, from its spans (null without telemetry)."""
    sandbox_time_to_hold_ms: float | None = None
    """The same steps with the engine against the sandbox (no audio, no SIP): transfer
    started to the hold started, to the dial sent, the digit to the merged outcome."""
    sandbox_time_to_ring_ms: float | None = None
    sandbox_accept_to_merged_ms: float | None = None
    brief_conversation_scenarios: int = 0
    brief_conversation_passed: bool = False
    """`test_brief_conversation.py` (issue 25): a conversational brief with the real worker
    (asked and answered, accepted by voice; the caller hanging up in it; a silent
    supervisor timing out): at least three scenarios ran, and all passed."""
    ring_group_passed: bool = False
    """The ring-group scenarios of `test_ring_group.py` ran on the real stack (at least 3)
    and all passed."""
    ring_group_extra_legs_left: int = 0
    """Supervisor legs the server still listed after those scenarios beyond the one kept."""
    ring_group_cancel_ms: float = 0.0
    """The longest from the kept phone's 200 OK to the CANCEL at another phone of its group."""
    tests_failed: int = 0
    seconds: float = 0.0
    stack: dict[str, str] = field(default_factory=dict)
    _started: float = field(default_factory=time.monotonic, repr=False)
    _checks: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    _from_mismatches: int = field(default=0, repr=False)
    _speed: dict[str, list[float]] = field(default_factory=dict, repr=False)
    _brief_conversation_ok: int = field(default=0, repr=False)
    _ring_groups: list[bool] = field(default_factory=list, repr=False)

    def speed(self, figure: str, seconds: float) -> None:
        """One measurement of the speed `figure` (`real_time_to_hold_ms`, ...; their p50 is
        the figure)."""
        self._speed.setdefault(figure, []).append(seconds * 1000)

    def invites(self, from_users: list[str], caller: str) -> None:
        """The From users the supervisors' phones saw in a `preserve` transfer's INVITEs."""
        self.preserve_invites += len(from_users)
        self._from_mismatches += sum(1 for user in from_users if user != caller)

    def window(self, seconds: float) -> None:
        self.supervisor_heard_caller_ms = max(self.supervisor_heard_caller_ms, seconds * 1000)

    def after_merge(self, seconds: float) -> None:
        self.after_merge_release_ms = max(self.after_merge_release_ms, seconds * 1000)

    def ringing_cancel(self, seconds: float) -> None:
        self.ringing_cancel_ms = max(self.ringing_cancel_ms, seconds * 1000)

    def decline(self, released: float, spoke: float) -> None:
        """Seconds from the digit to the leg's BYE, and to the AI's first word."""
        if released * 1000 > self.decline_release_ms:
            self.decline_release_ms, self.decline_first_word_ms = released * 1000, spoke * 1000

    def ring_group_legs(self, extra: int) -> None:
        self.ring_group_extra_legs_left += extra

    def ring_group_cancel(self, seconds: float) -> None:
        self.ring_group_cancel_ms = max(self.ring_group_cancel_ms, seconds * 1000)

    def watchdog(self, recovery_s: float, *, forged_refused: bool) -> None:
        self.watchdog_recovery_s = max(self.watchdog_recovery_s, round(recovery_s, 1))
        self.watchdog_forged_refused += int(forged_refused)

    def negotiation(self, answered: int, failed: int) -> None:
        self.negotiate_answered_legs += answered
        self.negotiate_failed_legs += failed

    def leaks(self, found: list[str]) -> None:
        self.leaks_found += len(found)

    def record(self, item: pytest.Item, report: pytest.TestReport) -> None:
        """A test's report: its failures (setup and teardown too), its result (the call)."""
        self.tests_failed += int(report.failed)
        if report.when != "call":
            return
        module = item.nodeid.split("::", 1)[0]
        callspec = getattr(item, "callspec", None)
        on = callspec.params.get("target", "real") if callspec else "real"
        if module.endswith("test_brief_conversation.py"):
            self.brief_conversation_scenarios += 1
            self._brief_conversation_ok += int(report.passed)
        elif module.split("/")[-1].startswith("test_worker"):
            self.worker_scenarios += 1
            self.worker_passed += int(report.passed)
            if "recover" in item.name:
                self.recovery_scenarios += 1
                self.recoveries_passed += int(report.passed)
        elif module.endswith("test_watchdog.py"):
            self.watchdog_scenarios += 1
            self.watchdog_recoveries_passed += int(report.passed)
        elif module.endswith("test_studio_browser.py"):
            self.studio_browser_tests += int(not report.skipped)
            self.studio_browser_passed += int(report.passed)
        elif module.endswith("test_report_browser.py"):
            self.report_browser_tests += int(not report.skipped)
            self.report_browser_passed += int(report.passed)
        elif module.endswith(("test_transfers.py", "test_call_lifecycle.py")) and on == "real":
            self.e2e_scenarios += 1
            self.e2e_passed += int(report.passed)
        elif module.endswith("test_ring_group.py") and on == "real":
            self.e2e_scenarios += 1
            self.e2e_passed += int(report.passed)
            self._ring_groups.append(report.passed)
        elif module.split("/")[-1].startswith("test_conformance"):
            params = (
                {k: v for k, v in callspec.params.items() if k != "target"} if callspec else {}
            )
            check = item.nodeid.split("[", 1)[0] + str(sorted(params.items()))
            documented = hasattr(report, "wasxfail") and report.skipped
            result = "documented" if documented else report.outcome
            self._checks.setdefault(check, {})[on] = result

    def as_dict(self) -> dict[str, Any]:
        checks = self._checks.values()
        self.conformance_checks = len(self._checks)
        self.conformance_documented = sum(1 for c in checks if c.get("sandbox") == "documented")
        self.conformance_differences = sum(
            1
            for c in checks
            if c.get("real") != "passed" or c.get("sandbox") not in ("passed", "documented")
        )
        self.invite_from_is_caller = self.preserve_invites > 0 and self._from_mismatches == 0
        self.brief_conversation_passed = (
            self.brief_conversation_scenarios >= 3
            and self._brief_conversation_ok == self.brief_conversation_scenarios
        )
        self.ring_group_passed = len(self._ring_groups) >= 3 and all(self._ring_groups)
        self.seconds = round(time.monotonic() - self._started, 1)
        for name in (
            "supervisor_heard_caller_ms",
            "after_merge_release_ms",
            "ringing_cancel_ms",
            "decline_release_ms",
            "decline_first_word_ms",
            "ring_group_cancel_ms",
        ):
            setattr(self, name, round(getattr(self, name)))
        for name, values in self._speed.items():
            setattr(self, name, round(statistics.median(values), 1))
        pins = versions()
        self.stack = {
            "livekit-server": pins["LIVEKIT_SERVER_VERSION"],
            "livekit-sip": pins["LIVEKIT_SIP_VERSION"],
            "jaeger": pins["JAEGER_VERSION"],
        }
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}

    def dump(self, path: str | Path) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.as_dict()) + "\n", encoding="utf-8")


FIGURES = Figures()
