"""Diagrams of compiled flows: Mermaid (default), Graphviz DOT, and SVG through Graphviz.

Drawn from the compiled `StateChart` class, so the picture is the machine the engine runs:
states carry the step names, edges carry the outcome events (grouped when several lead to the
same step), and each step notes its type and timers, which the library's own renderer does
not show. `caller_hangup` leaves every state; it is drawn once, as a note.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

from orchestrator.errors import OrchestratorError
from orchestrator.flow.compiler import Machine, compile_flow
from orchestrator.flow.model import Flow, Step

__all__ = ["FORMATS", "render_graph"]

_HANGUP_NOTE = "the caller hanging up leads here from every step"


def _describe(step: Step) -> str:
    kind = step.type.replace("_", " ")
    if step.type == "dial":
        return f"{kind} {', '.join(step.to)} · ring {step.ring_timeout:g} s"
    if step.type == "brief":
        return f"{kind} · decide within {step.timeout:g} s"
    if step.type == "cold_transfer":
        return f"{kind} to {step.to}"
    budget = getattr(step, "max_visits", None)
    return f"{kind} · at most {budget} visits" if budget else kind


def _edges(machine: Machine) -> dict[tuple[str, str], list[str]]:
    grouped: dict[tuple[str, str], list[str]] = {}
    for state in machine.states:
        for transition in state.transitions:
            if transition.event == "caller_hangup":
                continue
            key = (transition.source.id, transition.target.id)
            grouped.setdefault(key, []).append(str(transition.event))
    return grouped


def _mermaid(flow: Flow, machine: Machine) -> str:
    lines = ["stateDiagram-v2", "    direction LR", "    [*] --> requested"]
    for name, step in flow.steps.items():
        lines.append(f"    {name} : {_describe(step)}")
    for (source, target), events in _edges(machine).items():
        lines.append(f"    {source} --> {target} : {', '.join(events)}")
    lines.extend(f"    {state.id} --> [*]" for state in machine.states if state.final)
    lines.append(f"    note right of caller_hung_up : {_HANGUP_NOTE}")
    return "\n".join(lines) + "\n"


def _dot(flow: Flow, machine: Machine) -> str:
    lines = [
        f'digraph "{flow.name}" {{',
        "  rankdir=LR;",
        '  node [shape=box, style=rounded, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for state in machine.states:
        step = flow.steps.get(state.id)
        label = f"{state.id}\\n{_describe(step)}" if step else state.id
        if state.id == "caller_hung_up":
            label += f"\\n({_HANGUP_NOTE})"
        shape = ", peripheries=2" if state.final else ""
        lines.append(f'  "{state.id}" [label="{label}"{shape}];')
    for (source, target), events in _edges(machine).items():
        lines.append(f'  "{source}" -> "{target}" [label="{", ".join(events)}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _svg(flow: Flow, machine: Machine) -> str:
    dot = shutil.which("dot")
    if dot is None:
        raise OrchestratorError(
            "--format svg needs Graphviz's `dot` program: install Graphviz (for example "
            "`apt-get install graphviz` or `brew install graphviz`), or use --format mermaid"
        )
    result = subprocess.run(
        [dot, "-Tsvg"], input=_dot(flow, machine), capture_output=True, text=True, timeout=30
    )
    if result.returncode != 0:
        raise OrchestratorError("Graphviz could not draw the flow; try --format dot")
    return result.stdout


FORMATS: dict[str, Callable[[Flow, Machine], str]] = {
    "mermaid": _mermaid,
    "dot": _dot,
    "svg": _svg,
}


def render_graph(flow: Flow, fmt: str = "mermaid") -> str:
    """Draw a loaded flow in one of `FORMATS`."""
    return FORMATS[fmt](flow, compile_flow(flow))
