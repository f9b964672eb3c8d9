"""Every flow shown in README.md and docs/*.md loads: what a designer copies must work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator import FlowError, load_flow

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)


def yaml_blocks(page: Path) -> list[tuple[int, str]]:
    """Each ```yaml block of a page, with the line its first YAML line is on."""
    text = page.read_text()
    return [
        (text.count("\n", 0, found.start(1)) + 1, found.group(1))
        for found in YAML_BLOCK.finditer(text)
    ]


def is_flow(block: str) -> bool:
    # A flow has top-level `steps:`. A scenario file names its flow (`flow:`) and holds no
    # steps; snippets (a `caller_id:` block, a scenario's `phones:`) are parts, not flows.
    return re.search(r"^steps:", block, re.MULTILINE) is not None


DOC_FLOWS = [
    pytest.param(block, id=f"{page.relative_to(ROOT)}:{line}")
    for page in PAGES
    for line, block in yaml_blocks(page)
    if is_flow(block)
]


@pytest.mark.parametrize("block", DOC_FLOWS)
def test_every_flow_in_the_docs_loads(block: str) -> None:
    try:
        load_flow(block)
    except FlowError as exc:
        pytest.fail("\n".join(f"{p.line}:{p.column}: {p.message}" for p in exc.problems))


def test_the_docs_show_flows_where_designers_look() -> None:
    shown = {param.id.split(":")[0] for param in DOC_FLOWS if param.id}
    assert {"README.md", "docs/writing-flows.md"} <= shown, shown


def test_a_flow_in_the_docs_with_a_mistake_is_caught() -> None:
    # The check above is only worth something if a broken block fails it.
    line, block = next(
        (line, block)
        for line, block in yaml_blocks(ROOT / "docs" / "writing-flows.md")
        if is_flow(block)
    )
    broken = block.replace("type: dial", "type: dail", 1)
    assert broken != block, line
    with pytest.raises(FlowError):
        load_flow(broken)
