"""The `open_hours` and `callback` steps on the sandbox: the route read off the transfer's
clock (the scenario's `now:`), the callback promise in the typed outcome and, masked, in
the logs."""

from __future__ import annotations

import dataclasses
import datetime as dt

from orchestrator import load_flow
from orchestrator.engine.outcome import Callback
from orchestrator.flow.model import Flow
from orchestrator.timeline import render
from tests.conftest import ROOT
from tests.engine.conftest import CALLER, run

CLOSED = "2026-12-05T19:02:00+00:00"  # Saturday 19:02 in London
OPEN = "2026-12-07T10:00:00+00:00"  # Monday 10:00

FLOW = """\
version: 1
name: hours
fallback: sorry
schedules:
  desk:
    timezone: Europe/London
    hours: {{mon-fri: ["09:00-17:00"]}}
steps:
  check:
    type: open_hours
    schedule: desk
    open: hold
    closed: promise
  hold:
    type: hold
    next: dial
  dial:
    type: dial
    to: [boss]
    next: brief
  brief:
    type: brief
    say: Press 1.
    next: merge
  merge:
    type: merge
    next: leave
  leave:
    type: exit
  promise:
    type: callback
    say: We will call you back.
    {number}next: {after}
    outcomes:
      no_number: sorry
  back:
    type: return_to_agent
  bye:
    type: hangup
    say: Goodbye.
  sorry:
    type: return_to_agent
targets:
  boss:
    number: "+15105550100"
"""


def hours_flow(after: str = "back", number: str = "", schedule: str = "") -> Flow:
    written = f'number: "{number}"\n    ' if number else ""
    written += f"schedule: {schedule}\n    " if schedule else ""
    text = FLOW.format(after=after, number=written)
    if after == "bye":
        text = text.replace("  back:\n    type: return_to_agent\n", "")
    else:
        text = text.replace("  bye:\n    type: hangup\n    say: Goodbye.\n", "")
    return load_flow(text)


async def test_closed_promises_a_callback_to_the_callers_number_and_returns() -> None:
    result, logs = await run(hours_flow(), {"now": CLOSED})
    outcome = result.outcome
    assert (outcome.kind, outcome.reason, outcome.final_step) == ("returned", "callback", "back")
    assert outcome.callback == Callback(number=CALLER, step="promise", promised_s=0.0)
    assert outcome.callback.not_before is None  # the step names no schedule
    assert outcome.attempts == []
    assert [call.text for call in result.media.calls if call.action == "say_to_caller"] == [
        "We will call you back."
    ]
    checked = [e for e in logs if e["event"] == "transfer.open_hours"]
    assert [(e["open"], e["local_time"], e["timezone"]) for e in checked] == [
        (False, "Sat 19:02", "Europe/London")
    ]
    finished = next(e for e in logs if e["event"] == "transfer.finished")
    assert finished["callback_number"] == "+1415***2671"
    promised = next(e for e in logs if e["event"] == "transfer.callback")
    assert promised["number"] == "+1415***2671"


async def test_open_rings_the_supervisor_and_promises_nothing() -> None:
    result, logs = await run(hours_flow(), {"now": OPEN})
    assert result.outcome.kind == "merged"
    assert result.outcome.callback is None
    assert [a.target for a in result.outcome.attempts] == ["boss"]
    finished = next(e for e in logs if e["event"] == "transfer.finished")
    assert "callback_number" not in finished
    assert [e["open"] for e in logs if e["event"] == "transfer.open_hours"] == [True]


async def test_the_route_reads_the_clock_when_the_step_runs() -> None:
    # 16:59:59 at the call's start; the step runs at once, so the desk is still open.
    result, _ = await run(hours_flow(), {"now": "2026-12-07T16:59:59+00:00"})
    assert result.outcome.kind == "merged"
    result, _ = await run(hours_flow(), {"now": "2026-12-07T17:00:00+00:00"})
    assert result.outcome.reason == "callback"


async def test_a_callback_then_hangup_ends_hung_up_with_reason_callback() -> None:
    result, _ = await run(hours_flow(after="bye"), {"now": CLOSED})
    assert (result.outcome.kind, result.outcome.reason) == ("hung_up", "callback")
    assert result.outcome.callback is not None
    said = [call.text for call in result.media.calls if call.action == "say_to_caller"]
    assert said == ["We will call you back.", "Goodbye."]


async def test_the_flow_may_name_the_number_to_call_back() -> None:
    result, logs = await run(hours_flow(number="+442079460999"), {"now": CLOSED})
    assert result.outcome.callback is not None
    assert result.outcome.callback.number == "+442079460999"
    assert "+442079460999" not in repr(logs)


async def test_a_withheld_number_gets_no_promise() -> None:
    result, logs = await run(hours_flow(), {"now": CLOSED, "caller": {"number": "anonymous"}})
    outcome = result.outcome
    assert (outcome.kind, outcome.reason, outcome.final_step) == ("returned", "no_number", "sorry")
    assert outcome.callback is None
    assert all(call.text != "We will call you back." for call in result.media.calls)
    assert any(e["event"] == "transfer.callback_no_number" for e in logs)


async def test_the_timeline_says_why_the_route_went_where_it_did() -> None:
    _, logs = await run(hours_flow(), {"now": CLOSED})
    lines = [line.strip() for line in render(logs)]
    assert "open hours: closed (Sat 19:02 Europe/London, schedule desk)" in lines
    assert "callback promised to +1415***2671 (step promise)" in lines
    finished = "outcome: returned (callback), caller on hold 0 s, 0 attempts, call back "
    assert f"{finished}+1415***2671" in lines


async def test_a_callback_with_a_schedule_says_when_it_next_opens() -> None:
    result, logs = await run(hours_flow(schedule="desk"), {"now": CLOSED})
    assert result.outcome.callback is not None
    assert result.outcome.callback.not_before == dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC)
    promised = next(e for e in logs if e["event"] == "transfer.callback")
    assert promised["not_before"] == "2026-12-07T09:00:00+00:00"


def test_the_callback_record_has_its_fields() -> None:
    names = [field.name for field in dataclasses.fields(Callback)]
    assert names == ["number", "step", "promised_s", "not_before"]


async def test_a_promise_said_stays_in_the_outcome_when_the_transfer_ends_otherwise() -> None:
    # LiveKit refuses the goodbye's hang-up: the transfer ends returned/hangup_failed, and
    # the callback promised before it is still recorded, which is why docs/business-hours.md
    # tells applications to test `outcome.callback`, never `outcome.reason == "callback"`.
    refused = [{"rpc": "RoomService.RemoveParticipant", "code": "unavailable", "times": 200}]
    result, _ = await run(hours_flow(after="bye"), {"now": CLOSED, "faults": refused})
    assert (result.outcome.kind, result.outcome.reason) == ("returned", "hangup_failed")
    assert result.outcome.callback is not None
    docs = (ROOT / "docs" / "business-hours.md").read_text()
    assert "outcome.callback is not None" in docs
    assert 'reason == "callback"' not in docs.replace('not `outcome.reason == "callback"`', "")
