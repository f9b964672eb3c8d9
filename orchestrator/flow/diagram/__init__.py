"""Diagrams of flows: `model` reads the picture off the engine's routing, `render` writes it."""

from orchestrator.flow.diagram.model import Diagram, Edge, Node, build_diagram, diagram_edges

__all__ = ["Diagram", "Edge", "Node", "build_diagram", "diagram_edges"]
