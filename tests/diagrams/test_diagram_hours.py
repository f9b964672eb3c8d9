"""A business-hours route drawn with its two ways labelled by the schedule they read, and a
callback step with what it promises."""

from __future__ import annotations

from orchestrator.flow.diagram.model import build_diagram, diagram_edges
from tests.engine.conftest import flow


def test_the_route_is_drawn_with_open_and_closed_labelled_by_its_schedule() -> None:
    diagram = build_diagram(flow("after_hours"))
    labels = {(e.source, e.target): e.label for e in diagram.edges if e.source == "check_hours"}
    assert labels == {
        ("check_hours", "hold_caller"): "schedule_open: support_desk",
        ("check_hours", "offer_callback"): "schedule_closed: support_desk",
    }
    nodes = {node.id: node for node in diagram.nodes}
    assert nodes["check_hours"].details == (
        "schedule support_desk (Europe/London)",
        "mon-fri 08:00-18:00",
        "sat 09:00-13:00",
        "closed 2026-12-25/2026-12-26, 2027-01-01",
    )
    assert "promises a callback to the caller's number" in nodes["offer_callback"].details


def test_the_route_edges_are_the_engines() -> None:
    edges = diagram_edges(flow("after_hours"))
    assert ("check_hours", "schedule_open", "hold_caller") in edges
    assert ("check_hours", "schedule_closed", "offer_callback") in edges
    assert ("offer_callback", "no_number", "no_callback") in edges
