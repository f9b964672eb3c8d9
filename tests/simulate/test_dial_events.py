"""The engine's own attempt events: `dial.request` names the target, its attempt number and
whose number is shown; `dial.result` says how each attempt ended. A simulation's timeline is
drawn from them (no watch on the engine's gateway)."""

from __future__ import annotations

from typing import Any

from orchestrator.timeline import describe
from tests.conftest import ROOT
from tests.simulate.test_simulate_events import CHAIN_FAILS, timeline

FALLBACK = {
    "caller": {"number": "+14155552671"},
    "trunk": {"id": "ST_sandbox", "numbers": ["+18005550100"], "caller_id_policy": "owned_only"},
    "phones": {"+15105550100": {"answer": "voicemail"}},
}


def _named(events: list[Any], name: str) -> list[Any]:
    return [e for e in events if e["event"] == name]


async def test_each_dial_request_names_its_target_attempt_and_caller_id_kind() -> None:
    _, events = await timeline("supervisor_chain", CHAIN_FAILS)
    requests = _named(events, "dial.request")
    assert [(e["target"], e["attempt"], e["caller_id_kind"]) for e in requests] == [
        ("primary", 1, "caller"),
        ("backup", 2, "caller"),
        ("team_lead", 3, "caller"),
    ]
    assert [e["ring"] for e in requests] == [20.0, 20.0, 30.0]
    # Numbers are masked as every logged value is.
    assert {e["caller_id"] for e in requests} == {"+1415***2671"}
    assert all("***" in e["to"] for e in requests)


async def test_each_attempt_ends_with_one_dial_result_agreeing_with_the_outcome() -> None:
    _, events = await timeline("supervisor_chain", CHAIN_FAILS)
    results = _named(events, "dial.result")
    assert [
        (e["target"], e["attempt"], e["result"], e["sip_status_code"], e["seconds"])
        for e in results
    ] == [
        ("primary", 1, "busy", 486, 0.5),
        ("backup", 2, "no_answer", None, 20.0),
        ("team_lead", 3, "declined", 603, 0.5),
    ]
    finished = _named(events, "transfer.finished")[0]
    assert [(e["target"], e["result"]) for e in results] == [
        (d["target"], d["result"]) for d in finished["dials"]
    ]
    # Logged when the result is recorded: before the next attempt's request.
    order = [e["event"] for e in events if e["event"] in ("dial.request", "dial.result")]
    assert order == ["dial.request", "dial.result"] * 3


async def test_a_caller_id_fallback_and_a_voicemail_are_told_attempt_by_attempt() -> None:
    _, events = await timeline("supervisor_chain", FALLBACK)
    requests = _named(events, "dial.request")[:2]
    assert [
        (e["target"], e["attempt"], e["caller_id_kind"], e["caller_id"]) for e in requests
    ] == [
        ("primary", 1, "caller", "+1415***2671"),
        ("primary", 2, "business", "+1800***0100"),
    ]
    results = [(e["attempt"], e["result"]) for e in _named(events, "dial.result")][:3]
    # The answer is logged when it comes; screening then finds a machine: logged again.
    assert results == [(1, "caller_id_rejected"), (2, "answered"), (2, "voicemail")]


async def test_a_dial_the_caller_hangs_up_during_ends_cancelled() -> None:
    scenario = {
        "caller": {"number": "+14155552671", "hangup_after": 3.0},
        "phones": {"default": {"answer": "no_answer"}},
    }
    lines, events = await timeline("warm_transfer", scenario)
    (result,) = _named(events, "dial.result")
    assert (result["target"], result["result"]) == ("on_call_supervisor", "cancelled")
    assert result["seconds"] == 3.0
    assert any(
        line.endswith("on_call_supervisor: dialling stopped (the step ended)") for line in lines
    )
    # The outcome's record is unchanged: the attempt never got a phone's answer.
    finished = _named(events, "transfer.finished")[0]
    assert [d["result"] for d in finished["dials"]] == ["dialing"]


def test_the_timeline_reads_dial_request_and_dial_result() -> None:
    request = {
        "event": "dial.request",
        "to": "+1510***0100",
        "caller_id": "+1800***0100",
        "target": "backup",
        "attempt": 2,
        "caller_id_kind": "business",
        "ring": 30.0,
    }
    expected = "dialling backup, showing the business number +1800***0100, ringing up to 30 s"
    assert describe(request) == expected
    assert describe(request, api=True) == expected
    result = {"event": "dial.result", "target": "backup", "result": "busy", "sip_status_code": 486}
    assert describe(result) == "backup: busy (SIP 486)"


def test_a_dial_request_from_an_older_log_is_shown_as_before() -> None:
    old = {"event": "dial.request", "to": "+1510***0100", "caller_id": "+1415***2671"}
    assert describe(old) is None
    assert describe(old, api=True) == "LiveKit API  dialling +1510***0100 from +1415***2671 (sent)"


async def test_the_docs_say_what_a_still_ringing_attempt_records() -> None:
    # docs/worker.md and docs/report.md disagreed (one said `cancelled`, one `dialing`); they
    # now say what the engine does: `dial.result` logs `cancelled`, the outcome's attempt
    # and `transfer.finished`'s `dials` keep `dialing`.
    scenario = {
        "caller": {"number": "+14155552671", "hangup_after": 3.0},
        "phones": {"default": {"answer": "no_answer"}},
    }
    _, events = await timeline("warm_transfer", scenario)
    (logged,) = [e["result"] for e in _named(events, "dial.result")]
    (kept,) = [d["result"] for d in _named(events, "transfer.finished")[0]["dials"]]
    worker = " ".join((ROOT / "docs" / "worker.md").read_text().split())
    report = " ".join((ROOT / "docs" / "report.md").read_text().split())
    assert f"keeps the result `{kept}` here and in `transfer.finished`'s `dials`" in worker
    assert f"its `dial.result` log line says `{logged}`" in worker
    assert f"its `dial.result` line says `{logged}`" in report
    assert f"whose `dials` keep `{kept}`" in report
