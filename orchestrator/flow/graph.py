"""Diagrams of flows: Mermaid (default), Graphviz DOT, and SVG through Graphviz.

Drawn from the engine's own routing (see `orchestrator.flow.diagram`): every node names its
step, a dial step shows its chain of targets as the engine works through it, and engine
states and the hang-up and hold-limit edges of every step appear only with `internal`.
"""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.flow.diagram import Diagram, build_diagram
from orchestrator.flow.diagram.render import dot, mermaid, svg
from orchestrator.flow.model import Flow

__all__ = ["FORMATS", "render_graph"]

FORMATS: dict[str, Callable[[Diagram], str]] = {"mermaid": mermaid, "dot": dot, "svg": svg}


def render_graph(flow: Flow, fmt: str = "mermaid", *, internal: bool = False) -> str:
    """Draw a loaded flow in one of `FORMATS` (engine-internal states with `internal`)."""
    return FORMATS[fmt](build_diagram(flow, internal=internal))
