"""`orchestrator report`: figures read back from the JSON logs `orchestrator simulate` writes.

The shipped flows run in-process against the sandbox on the simulated clock (`--instant`),
each under a scenario whose outcome is known; the report over their logs must count exactly
those outcomes, however the lines are interleaved, whatever else the logs hold.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.report import percentile, read_lines, render_text, report
from tests.conftest import ROOT

runner = CliRunner()
CALLER = "+14155552671"


@dataclass(frozen=True)
class Case:
    """A flow, a scenario, and what the transfer must come to."""

    flow: str
    scenario: dict[str, Any] | Path
    outcome: str
    reason: str | None
    dials: tuple[tuple[str, str], ...]
    """(target, result) per attempt, in order."""
    declines: int = 0
    lost_on_hold: int = 0
    ended_first: str | None = None
    """Who hung up a merged call first, when the scenario ends it."""


DEMO = ROOT / "examples" / "demo_scenario.yaml"
BUSY = ROOT / "tests" / "sandbox" / "busy_scenario.yaml"
SUP = "on_call_supervisor"
CASES = {
    "demo_warm": Case("warm_transfer", DEMO, "merged", None, ((SUP, "answered"),)),
    "demo_chain": Case("supervisor_chain", DEMO, "merged", None, (("primary", "answered"),)),
    "demo_cold": Case("cold_transfer", DEMO, "cold_transferred", None, ()),
    "busy_warm": Case("warm_transfer", BUSY, "returned", "busy", ((SUP, "busy"),)),
    "busy_chain": Case(
        "supervisor_chain",
        BUSY,
        "returned",
        "exhausted",
        (("primary", "busy"), ("backup", "busy"), ("team_lead", "busy")),
    ),
    "brief_declined": Case(
        "supervisor_chain",
        {"phones": {"+15105550100": {"on_brief": "decline"}, "default": {"answer": 2.0}}},
        "merged",
        None,
        (("primary", "answered"), ("backup", "answered")),
        declines=1,
    ),
    "phone_declined": Case(
        "warm_transfer",
        {"phones": {"default": {"answer": "decline"}}},
        "returned",
        "declined",
        ((SUP, "declined"),),
        declines=1,
    ),
    "brief_silent": Case(
        "warm_transfer",
        {"phones": {"default": {"on_brief": "silent"}}},
        "returned",
        "timeout",
        ((SUP, "answered"),),
    ),
    "caller_gone": Case(
        "warm_transfer",
        {"caller": {"number": CALLER, "hangup_after": 3.0}, "phones": {"default": {"answer": 10}}},
        "caller_hung_up",
        None,
        ((SUP, "dialing"),),
        lost_on_hold=1,
    ),
    "voicemail_then_lead": Case(
        "supervisor_chain",
        {
            "phones": {
                "+15105550100": {"answer": "voicemail"},
                "+15105550101": {"answer": "no_answer"},
            }
        },
        "merged",
        None,
        (("primary", "voicemail"), ("backup", "no_answer"), ("team_lead", "answered")),
    ),
    "supervisor_hangs_up": Case(
        "warm_transfer",
        {"phones": {"default": {"hangup_after": 5.0}}},
        "merged",
        None,
        ((SUP, "answered"),),
        ended_first="supervisor",
    ),
    "caller_id_fallback": Case(
        "warm_transfer",
        {"trunk": {"caller_id_policy": "owned_only"}},
        "merged",
        None,
        ((SUP, "caller_id_rejected"), (SUP, "answered")),
    ),
}


def run(*args: str, stdin: str | bytes | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every case's JSON log, from `orchestrator simulate --json --instant` in-process."""
    folder = tmp_path_factory.mktemp("logs")
    made = {}
    try:
        for name, case in CASES.items():
            scenario = case.scenario
            if not isinstance(scenario, Path):
                scenario = folder / f"{name}.yaml"
                scenario.write_text(json.dumps(scenario_of(case)), encoding="utf-8")
            flow = ROOT / "flows" / f"{case.flow}.yaml"
            code, out, err = run(
                "simulate", str(flow), "--scenario", str(scenario), "--json", "--instant"
            )
            assert code == 0, err
            made[name] = folder / f"{name}.jsonl"
            made[name].write_text(out, encoding="utf-8")
    finally:
        structlog.reset_defaults()  # simulate --json configured logging for the process
    return made


def scenario_of(case: Case) -> dict[str, Any]:
    assert isinstance(case.scenario, dict)
    return case.scenario


def figures_of(*paths: Path | str, stdin: str | None = None) -> dict[str, Any]:
    code, out, err = run("report", "--json", *map(str, paths), stdin=stdin)
    assert (code, err) == (0, "")
    result: dict[str, Any] = json.loads(out)
    return result


class TestShippedFlows:
    @pytest.mark.parametrize("name", CASES)
    def test_one_transfer_counted_as_it_ended(self, logs: dict[str, Path], name: str) -> None:
        """Each scenario's log alone: one finished transfer with its outcome, its dials by
        target name and result, its declines and callers lost on hold."""
        case = CASES[name]
        figures = figures_of(logs[name])
        flow = figures["flows"][case.flow]
        assert (figures["transfers"], flow["finished"], flow["unfinished"]) == (1, 1, 0)
        reasons = {case.reason: 1} if case.reason else {}
        assert {case.outcome: {"count": 1, "reasons": reasons}} == flow["outcomes"]
        assert flow["merged"] == (case.outcome == "merged")
        assert flow["declines"] == case.declines
        assert flow["callers_lost_on_hold"] == case.lost_on_hold
        assert flow["chain_depth"]["distribution"] == {str(len(case.dials)): 1}
        results: dict[str, Counter[str]] = {}
        for target, result in case.dials:
            results.setdefault(target, Counter())[result] += 1
        assert {t: dict(r) for t, r in results.items()} == {
            t: row["results"] for t, row in flow["targets"].items()
        }
        ended = {case.ended_first: 1} if case.ended_first else {}
        assert flow["merged_calls_ended"] == ended

    def test_all_logs_together_add_up(self, logs: dict[str, Path]) -> None:
        """The logs of every case in one report: per flow and in all, the counts are the
        cases' own."""
        figures = figures_of(*logs.values())
        assert figures["transfers"] == len(CASES)
        for flow in {case.flow for case in CASES.values()}:
            cases = [case for case in CASES.values() if case.flow == flow]
            shown = figures["flows"][flow]
            assert shown["transfers"] == len(cases)
            kinds = Counter(case.outcome for case in cases)
            assert {k: o["count"] for k, o in shown["outcomes"].items()} == dict(kinds)
            assert shown["merged_percent"] == round(100 * kinds["merged"] / len(cases), 1)
            assert shown["declines"] == sum(case.declines for case in cases)
        everything = figures["all"]
        merged = [case for case in CASES.values() if case.outcome == "merged"]
        assert everything["merged"] == len(merged)
        assert everything["time_to_supervisor_seconds"]["count"] == len(merged)
        assert everything["callers_lost_on_hold"] == 1
        assert everything["chain_depth"]["max"] == 3

    def test_declines_are_named_by_target(self, logs: dict[str, Path]) -> None:
        """A brief declined by the primary, then merged with the backup; a phone that
        refused the call (SIP 603)."""
        chain = figures_of(logs["brief_declined"])["flows"]["supervisor_chain"]["targets"]
        assert (chain["primary"]["declines"], chain["primary"]["merged"]) == (1, 0)
        assert (chain["backup"]["declines"], chain["backup"]["merged"]) == (0, 1)
        warm = figures_of(logs["phone_declined"])["flows"]["warm_transfer"]["targets"]
        assert warm[SUP]["declines"] == 1

    def test_interleaved_lines_count_each_transfer_once(self, logs: dict[str, Path]) -> None:
        """Lines of all transfers dealt out one by one (as several calls of one worker
        write them) give the same figures as the logs one after another."""
        texts = [path.read_text().splitlines() for path in logs.values()]
        dealt = [line for row in _zip_longest(texts) for line in row]
        assert len(dealt) == sum(map(len, texts))
        together = figures_of(*logs.values())
        interleaved = figures_of("-", stdin="\n".join(dealt) + "\n")
        assert interleaved["all"] == together["all"]
        assert interleaved["flows"] == together["flows"]

    def test_no_raw_phone_number_is_printed(self, logs: dict[str, Path]) -> None:
        code, out, _ = run("report", *map(str, logs.values()))
        assert code == 0
        assert "5105550100" not in out
        assert "4155552671" not in out


def _zip_longest(texts: list[list[str]]) -> list[list[str]]:
    depth = max(map(len, texts))
    return [[lines[i] for lines in texts if i < len(lines)] for i in range(depth)]


def _line(event: str, **fields: Any) -> str:
    return json.dumps({"event": event, "transfer_id": "t1", "flow": "f", **fields})


FINISHED = {
    "outcome": "merged",
    "reason": None,
    "hold_seconds": 4.0,
    "time_to_supervisor_seconds": 4.0,
    "attempts": 1,
}


class TestLines:
    def test_broken_and_foreign_lines_are_counted_apart(self) -> None:
        """Not JSON, not an object, a used event with a field missing or mistyped: unreadable
        (the first five named by line). Other events and other programs' objects: skipped."""
        lines = [
            _line("transfer.started"),
            "not json at all",
            "[1, 2]",
            '"a string"',
            _line("transfer.finished", **{**FINISHED, "outcome": None}),
            _line("transfer.finished", **{**FINISHED, "hold_seconds": "4"}),
            _line("transfer.finished", **{**FINISHED, "dials": "primary"}),
            json.dumps({"event": "transfer.started", "flow": "f"}),  # no transfer_id
            _line("livekit.request", rpc="RoomService.GetParticipant", ok=True),
            json.dumps({"msg": "another program", "level": "info"}),
            json.dumps({"event": "simulate.leftover_rooms", "rooms": []}),
            "",
            _line("transfer.finished", **FINISHED),
        ]
        code, out, err = run("report", "--json", "-", stdin="\n".join(lines))
        assert (code, err) == (0, "")
        figures = json.loads(out)
        assert figures["lines"] == {"read": 12, "used": 2, "skipped": 3, "unreadable": 7}
        assert figures["unreadable_lines"] == [
            "<stdin>:2: not JSON",
            "<stdin>:3: not a JSON object",
            "<stdin>:4: not a JSON object",
            "<stdin>:5: transfer.finished: `outcome` missing",
            "<stdin>:6: transfer.finished: `hold_seconds` is not a number of seconds",
        ]
        assert figures["transfers"] == 1
        assert figures["all"]["merged"] == 1

    @pytest.mark.parametrize(
        "garbage",
        [
            pytest.param(b"\xff\xfe\x00garbage\n", id="binary"),
            pytest.param(b"[" * 100_000 + b"\n", id="deep-nesting"),
            pytest.param(b'{"event": "transfer.finished", "transfer_id": 7}\n', id="bad-id"),
            pytest.param(
                b'{"event": "transfer.finished", "transfer_id": "t", "outcome": '
                b'"merged", "hold_seconds": NaN}\n',
                id="nan",
            ),
            pytest.param(
                b'{"event": "transfer.finished", "transfer_id": "t", "outcome": '
                b'"merged", "attempts": true}\n',
                id="bool-count",
            ),
            pytest.param(
                b'{"event": "transfer.finished", "transfer_id": "t", "outcome": '
                b'"merged", "dials": [{"target": "a"}]}\n',
                id="dial-no-result",
            ),
        ],
    )
    def test_garbage_never_raises(self, garbage: bytes) -> None:
        reading = read_lines([("log", io.BytesIO(garbage))])
        assert (reading.lines, reading.unreadable, reading.records) == (1, 1, {})

    def test_a_transfer_never_finished_is_unfinished_not_dropped(self) -> None:
        """Started, dialled, and no outcome (still in flight, or its worker died)."""
        lines = [_line("transfer.started"), _line("dial.request", to="+1510***0100")]
        flow = figures_of("-", stdin="\n".join(lines))["flows"]["f"]
        assert (flow["transfers"], flow["finished"], flow["unfinished"]) == (1, 0, 1)
        assert flow["merged_percent"] is None

    def test_a_later_outcome_wins(self) -> None:
        """A recovering worker's `transfer.finished` (no dials) after the first worker's
        lines: one transfer, the recovered outcome, no target named."""
        lines = [
            _line("transfer.started"),
            _line("dial.request", to="+1510***0100"),
            _line(
                "transfer.finished",
                **{
                    **FINISHED,
                    "outcome": "returned",
                    "attempts": 0,
                    "reason": "worker_lost",
                    "hold_seconds": None,
                },
            ),
        ]
        figures = figures_of("-", stdin="\n".join(lines))
        flow = figures["flows"]["f"]
        assert flow["outcomes"] == {"returned": {"count": 1, "reasons": {"worker_lost": 1}}}
        assert (flow["targets"], flow["hold_seconds"]["count"]) == ({}, 0)
        assert "none named in the log" in render_text(figures)

    @pytest.mark.parametrize(
        ("dial_lines", "dials", "declines", "by_target"),
        [
            pytest.param(1, None, 1, {}, id="no-dials-counts-transitions"),
            pytest.param(0, [("a", "answered")], 1, {"a": 0}, id="dial-lines-lost"),
            pytest.param(1, [("a", "answered")], 1, {"a": 1}, id="brief-declined"),
            pytest.param(1, [("a", "declined")], 1, {"a": 1}, id="phone-declined"),
        ],
    )
    def test_declines_without_every_line(
        self,
        dial_lines: int,
        dials: list[tuple[str, str]] | None,
        declines: int,
        by_target: dict[str, int],
    ) -> None:
        """A `declined` transition is a decline; it is named by target only when the log
        has as many `dial.request` lines as `dials`, and a phone's own decline is not
        counted twice."""
        lines = [_line("transfer.started")]
        lines += [_line("dial.request", to="+1510***0100")] * dial_lines
        lines.append(
            _line("transfer.transition", from_state="x", to_state="y", trigger="declined")
        )
        finished = {**FINISHED, "outcome": "returned", "reason": "declined"}
        if dials is not None:
            finished["dials"] = [{"target": t, "result": r, "seconds": 1.0} for t, r in dials]
        lines.append(_line("transfer.finished", **finished))
        flow = figures_of("-", stdin="\n".join(lines))["flows"]["f"]
        assert flow["declines"] == declines
        assert {name: row["declines"] for name, row in flow["targets"].items()} == by_target

    def test_values_from_the_log_are_masked_and_escaped(self) -> None:
        """A raw number or a control character in a log value is never printed as is."""
        dials = [{"target": CALLER, "result": "answered\x1b[31m", "seconds": 1.0}]
        text = _line("transfer.finished", **FINISHED, dials=dials)
        code, out, _ = run("report", "-", stdin=text)
        assert code == 0
        assert CALLER not in out
        assert "\x1b" not in out


class TestCommand:
    def test_stdin_and_files_together(self, tmp_path: Path) -> None:
        log = tmp_path / "a.log"
        log.write_text(_line("transfer.finished", **FINISHED) + "\n")
        other = json.loads(_line("transfer.finished", **FINISHED)) | {"transfer_id": "t2"}
        figures = figures_of(log, "-", stdin=json.dumps(other))
        assert (figures["transfers"], figures["all"]["merged"]) == (2, 2)

    def test_empty_log_says_so_and_exits_0(self, tmp_path: Path) -> None:
        empty = tmp_path / "empty.log"
        empty.write_text("")
        code, out, err = run("report", str(empty))
        assert (code, err) == (0, "")
        assert out.splitlines() == [
            "0 transfer(s); 0 line(s) read: 0 used, 0 skipped (other events), 0 unreadable",
            "No transfers in these logs: none of their lines is a transfer's event.",
        ]
        assert figures_of(empty)["flows"] == {}

    def test_missing_file_exits_2_naming_it(self, tmp_path: Path) -> None:
        missing = tmp_path / "nope.log"
        code, out, err = run("report", str(missing))
        assert (code, out) == (2, "")
        assert err.startswith(f"report: cannot read {missing}: No such file or directory")
        assert "- for stdin" in err

    def test_a_directory_exits_2(self, tmp_path: Path) -> None:
        code, _, err = run("report", str(tmp_path))
        assert code == 2
        assert err.startswith("report: cannot read")

    def test_no_log_is_a_usage_error(self) -> None:
        assert run("report")[0] == 2

    def test_json_schema(self, logs: dict[str, Path]) -> None:
        """The keys of `--json`, pinned: machines read them."""
        figures = figures_of(*logs.values())
        assert list(figures) == ["lines", "unreadable_lines", "transfers", "all", "flows"]
        assert list(figures["lines"]) == ["read", "used", "skipped", "unreadable"]
        flow = figures["flows"]["supervisor_chain"]
        assert list(flow) == [
            "transfers",
            "finished",
            "unfinished",
            "merged",
            "merged_percent",
            "outcomes",
            "time_to_supervisor_seconds",
            "hold_seconds",
            "callers_lost_on_hold",
            "declines",
            "chain_depth",
            "merged_calls_ended",
            "targets",
        ]
        assert list(flow["hold_seconds"]) == ["count", "p50", "p95"]
        assert list(flow["chain_depth"]) == ["mean", "max", "distribution"]
        assert list(flow["targets"]["primary"]) == [
            "dials",
            "answered",
            "merged",
            "declines",
            "results",
            "answer_seconds",
        ]
        assert figures["all"].keys() == flow.keys()

    def test_text_output(self, logs: dict[str, Path]) -> None:
        code, out, _ = run("report", str(logs["busy_chain"]), str(logs["demo_chain"]))
        assert code == 0
        first, *rest = out.splitlines()
        # How many lines were skipped depends on the engine's API calls: not pinned here.
        assert first.startswith("2 transfer(s); ")
        assert first.endswith(" skipped (other events), 0 unreadable")
        assert rest == [
            "",
            "flow supervisor_chain",
            "  transfers              2 (2 finished, 0 unfinished)",
            "  merged                 1 of 2 finished (50.0%)",
            "  outcomes               merged 1; returned 1 (exhausted 1)",
            "  time to supervisor     p50 4 s, p95 4 s (1 merged)",
            "  hold time              p50 1.5 s, p95 4 s (2 held)",
            "  callers lost on hold   0",
            "  declines               0",
            "  chain depth            mean 2, max 3 (1 attempt: 1, 3 attempts: 1)",
            "  targets",
            "    target               dials answered merged declines answer p50 answer p95"
            "  results",
            "    backup                   1        0      0        0          -          -"
            "  busy 1",
            "    primary                  2        1      1        0        2 s        2 s"
            "  answered 1, busy 1",
            "    team_lead                1        0      0        0          -          -"
            "  busy 1",
        ]


class TestPercentile:
    @pytest.mark.parametrize(
        ("values", "p", "expected"),
        [
            pytest.param([15, 20, 35, 40, 50], 5, 15, id="wikipedia-p5"),
            pytest.param([15, 20, 35, 40, 50], 30, 20, id="wikipedia-p30"),
            pytest.param([15, 20, 35, 40, 50], 40, 20, id="wikipedia-p40"),
            pytest.param([15, 20, 35, 40, 50], 50, 35, id="wikipedia-p50"),
            pytest.param([15, 20, 35, 40, 50], 100, 50, id="wikipedia-p100"),
            pytest.param([1, 2, 3, 4], 50, 2, id="even-count-no-interpolation"),
            pytest.param(list(range(1, 21)), 95, 19, id="exact-rank-19-of-20"),
            pytest.param(list(range(1, 101)), 95, 95, id="p95-of-100"),
            pytest.param([7.5], 95, 7.5, id="one-value"),
            pytest.param([3, 1, 2], 50, 2, id="unsorted"),
        ],
    )
    def test_nearest_rank(self, values: list[float], p: int, expected: float) -> None:
        assert expected == percentile(values, p)

    def test_none_of_nothing(self) -> None:
        assert percentile([], 50) is None

    @pytest.mark.parametrize("p", [0, -1, 101])
    def test_p_out_of_range(self, p: int) -> None:
        with pytest.raises(ValueError, match="p must be in"):
            percentile([1.0], p)


def test_report_of_a_reading_is_pure() -> None:
    """The same reading gives the same report twice (no state kept between calls)."""
    reading = read_lines([("log", io.BytesIO(_line("transfer.finished", **FINISHED).encode()))])
    assert report(reading) == report(reading)
