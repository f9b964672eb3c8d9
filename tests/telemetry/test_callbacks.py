"""A transfer routed by business hours to a callback, as telemetry sees it: counted by its
outcome and reason `callback`, its root span saying so, no caller number exported."""

from __future__ import annotations

from tests.telemetry.conftest import Recorded, transfer

CLOSED = {"now": "2026-12-05T19:02:00+00:00"}  # Saturday evening in London


async def test_a_callback_is_counted_and_traced_by_its_reason(recorded: Recorded) -> None:
    await transfer(recorded, CLOSED, flow="after_hours")
    finished = {
        (got["outcome"], got["reason"], got["flow"]): point.value
        for got, point in recorded.points("warm_transfer.finished")
    }
    assert finished == {("hung_up", "callback", "after_hours"): 1}
    spans = recorded.spans.get_finished_spans()
    (root,) = [span for span in spans if span.name == "warm_transfer"]
    attributes = dict(root.attributes or {})
    assert (attributes["transfer.outcome"], attributes["transfer.reason"]) == (
        "hung_up",
        "callback",
    )
    exported = repr([dict(span.attributes or {}) for span in spans])
    exported += recorded.metrics_text()
    assert "4155552671" not in exported
