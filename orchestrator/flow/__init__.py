"""The flow language: read, check and compile designer-written YAML transfer flows.

Layers, each its own module: `reader` (strict YAML with positions), `values` and `model` (the
language, pydantic), `steps` (what each step type is), `checks` (graph and phase rules),
`outcomes` (the outcome table), `loader` (the facade), `compiler` (to a StateChart class),
`graph` (with `diagram`) and `schema` (outputs).
"""

from orchestrator.flow.compiler import compile_flow
from orchestrator.flow.graph import render_graph
from orchestrator.flow.loader import load_flow
from orchestrator.flow.model import Flow

__all__ = ["Flow", "compile_flow", "load_flow", "render_graph"]
