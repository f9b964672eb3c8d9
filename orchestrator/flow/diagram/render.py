"""A `Diagram` as text: a Mermaid flowchart, Graphviz DOT, or SVG drawn by Graphviz.

Every label passes through its language's escaping: the texts come from a flow file, and a
`say` text holding quotes, `<script>`, `#`, `:` or a newline must neither break the diagram
nor inject markup where it is shown.
"""

from __future__ import annotations

import shutil
import subprocess

from orchestrator.errors import OrchestratorError
from orchestrator.flow.diagram.model import MARKER, Diagram, Edge, Node

__all__ = ["dot", "mermaid", "svg"]

# Kept as they are in Mermaid labels; everything else is written as an entity code (`#60;`),
# which mermaid decodes after parsing and its renderer shows as text.
_MERMAID_PLAIN = frozenset(" .,'!?()-_/+")


def mermaid_text(text: str) -> str:
    out = []
    for char in text:
        if char.isalnum() or char in _MERMAID_PLAIN or (ord(char) > 127 and char.isprintable()):
            out.append(char)
        elif char.isprintable():
            out.append(f"#{ord(char)};")
        else:
            out.append(" ")
    return "".join(out)


def _mermaid_id(node_id: str) -> str:
    # Step names are [a-z0-9_]; the prefixes keep every id off Mermaid's keywords, and the
    # markers apart from steps of the same name.
    if node_id.startswith(MARKER):
        return "m_" + node_id.removeprefix(MARKER)
    return "n_" + node_id.replace("/", "__")


def _mermaid_label(node: Node) -> str:
    lines = [f"<b>{mermaid_text(node.name)}</b>"] if node.kind != "target" else []
    if node.kind != "target" and node.type:
        lines.append(mermaid_text(node.type))
    lines.extend(mermaid_text(line) for line in node.details)
    return "<br>".join(lines)


def _mermaid_node(node: Node) -> str:
    ident, label = _mermaid_id(node.id), _mermaid_label(node)
    if node.kind == "marker" and node.name == "start":
        return f'{ident}(("{label}"))'
    if node.kind == "marker":
        return f'{ident}>"{label}"]'
    if node.final:
        return f'{ident}(["{label}"])'
    if node.kind == "target":
        return f'{ident}["{label}"]'
    return f'{ident}("{label}")'


def mermaid(diagram: Diagram) -> str:
    lines = ["flowchart LR"]
    chains: dict[str, list[Node]] = {}
    for node in diagram.nodes:
        if node.chain is not None:
            chains.setdefault(node.chain, []).append(node)
        else:
            lines.append(f"    {_mermaid_node(node)}")
    for chain, members in chains.items():
        title = mermaid_text(f"{chain}: dial chain")
        lines.append(f'    subgraph {_mermaid_id(chain)}__chain ["{title}"]')
        lines.extend(f"        {_mermaid_node(node)}" for node in members)
        lines.append("    end")
    for edge in diagram.edges:
        arrow = "-.->" if edge.dashed else "-->"
        label = f'|"{mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"    {_mermaid_id(edge.source)} {arrow}{label} {_mermaid_id(edge.target)}")
    lines.extend(
        f"    class {_mermaid_id(node.id)} {node.kind}"
        for node in diagram.nodes
        if node.kind in ("marker", "internal", "ending")
    )
    lines.append("    classDef marker fill:#f4f4f4,stroke:#999,color:#333")
    lines.append("    classDef internal fill:#eee,stroke:#999,stroke-dasharray:4 3,color:#555")
    lines.append("    classDef ending fill:#eef6ee,stroke:#5a5")
    return "\n".join(lines) + "\n"


def dot_text(text: str) -> str:
    """A DOT double-quoted string's content: `\\` and `"` escaped, `&` kept from being read
    as an HTML entity by Graphviz, control characters as spaces."""
    out = []
    for char in text:
        if char in '\\"':
            out.append("\\" + char)
        elif char == "&":
            out.append("&amp;")
        elif not char.isprintable():
            out.append(" ")
        else:
            out.append(char)
    return "".join(out)


def _dot_label(node: Node) -> str:
    lines = [node.name] if node.kind != "target" else []
    if node.kind != "target" and node.type:
        lines.append(node.type)
    lines.extend(node.details)
    return "\\n".join(dot_text(line) for line in lines)


def _dot_node(node: Node) -> str:
    shape = ""
    if node.kind == "marker":
        shape = ", shape=note, style=dashed" if node.name != "start" else ", shape=circle"
    elif node.kind == "internal":
        shape = ', style="rounded,dashed"'
    if node.final:
        shape += ", peripheries=2"
    return f'"{dot_text(node.id)}" [label="{_dot_label(node)}"{shape}];'


def _dot_edge(edge: Edge) -> str:
    style = ", style=dashed" if edge.dashed else ""
    ends = f'"{dot_text(edge.source)}" -> "{dot_text(edge.target)}"'
    return f'{ends} [label="{dot_text(edge.label)}"{style}];'


def dot(diagram: Diagram) -> str:
    lines = [
        f'digraph "{dot_text(diagram.name)}" {{',
        "  rankdir=LR;",
        '  node [shape=box, style=rounded, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    chains: dict[str, list[Node]] = {}
    for node in diagram.nodes:
        if node.chain is not None:
            chains.setdefault(node.chain, []).append(node)
        else:
            lines.append(f"  {_dot_node(node)}")
    for chain, members in chains.items():
        lines.append(f'  subgraph "cluster_{dot_text(chain)}" {{')
        lines.append(f'    label="{dot_text(chain)}: dial chain"; style=rounded; color=gray;')
        lines.extend(f"    {_dot_node(node)}" for node in members)
        lines.append("  }")
    lines.extend(f"  {_dot_edge(edge)}" for edge in diagram.edges)
    lines.append("}")
    return "\n".join(lines) + "\n"


def svg(diagram: Diagram) -> str:
    program = shutil.which("dot")
    if program is None:
        raise OrchestratorError(
            "--format svg needs Graphviz's `dot` program: install Graphviz (for example "
            "`apt-get install graphviz` or `brew install graphviz`), or use --format mermaid"
        )
    result = subprocess.run(
        [program, "-Tsvg"], input=dot(diagram), capture_output=True, text=True, timeout=30
    )
    if result.returncode != 0:
        raise OrchestratorError("Graphviz could not draw the flow; try --format dot")
    return result.stdout
