"""What the diagram texts say, and that no text from a flow can break or inject into them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator import load_flow
from orchestrator.flow import render_graph
from orchestrator.flow.diagram.model import shorten
from orchestrator.flow.diagram.render import dot_text, mermaid_text

ROOT = Path(__file__).resolve().parents[2]
HOSTILE_SAY = 'Note: <script>alert("x")</script> #1; a|b [c] {summary} `e` %% f --> g & h'
FLOW = f"""
name: hostile_texts
fallback: back
targets:
  desk: {{number: "+15105550100"}}
steps:
  wait: {{type: hold, say: {HOSTILE_SAY!r}, next: ring}}
  ring: {{type: dial, to: [desk], next: ask}}
  ask: {{type: brief, say: "Line one\\nline two: {{summary}}", next: join}}
  join: {{type: merge, next: leave}}
  leave: {{type: exit}}
  back: {{type: return_to_agent, say: 'He said "no" </b><br><img src=x onerror=alert(1)>'}}
"""
ENTITY = re.compile(r"#(\d+);")
OURS = re.compile(r"</?b>|<br>")
# A Mermaid node or edge line: an id, a shape around one double-quoted label, or an edge with
# one quoted label between pipes. Nothing outside these forms may appear.
NODE = re.compile(r'^ {4,8}[nm]_\w+(\(\(|\(\[|\[|\(|>)"([^"]*)"(\)\)|\]\)|\]|\))$')
EDGE = re.compile(r'^ {4}[nm]_\w+ (-->|-\.->)(\|"([^"]*)"\|)? n_\w+$')


def decoded(label: str) -> str:
    return ENTITY.sub(lambda m: chr(int(m.group(1))), OURS.sub("\n", label))


@pytest.fixture
def mermaid() -> str:
    return render_graph(load_flow(FLOW))


def test_every_mermaid_line_has_one_of_the_known_forms(mermaid: str) -> None:
    lines = mermaid.splitlines()
    assert lines[0] == "flowchart LR"
    for line in lines[1:]:
        simple = line.strip() in ("end",) or line.lstrip().startswith(("class ", "classDef "))
        subgraph = re.fullmatch(r' {4}subgraph n_\w+__chain \["[^"]*"\]', line)
        assert simple or subgraph or NODE.match(line) or EDGE.match(line), line


def test_hostile_texts_are_entities_in_mermaid(mermaid: str) -> None:
    labels = [m.group(2) for m in map(NODE.match, mermaid.splitlines()) if m]
    for label in labels:
        assert not re.search(r'[<>"|;:`%{}\[\]&]', ENTITY.sub("", OURS.sub("", label))), label
    texts = [decoded(label) for label in labels]
    assert any(f'says "{shorten(HOSTILE_SAY)}"' in text for text in texts)
    assert any("line two" in text for text in texts)
    assert "<script>" not in mermaid
    assert "<img" not in mermaid


def test_a_newline_in_a_say_text_stays_inside_its_label(mermaid: str) -> None:
    assert "says #34;Line one line two#58; #123;summary#125;#34;" in mermaid


def test_dot_strings_are_closed_and_decode_to_the_texts() -> None:
    out = render_graph(load_flow(FLOW), "dot")
    string = r'"(?:[^"\\]|\\.)*"'
    for line in out.splitlines()[4:-1]:
        bare = re.sub(string, "S", line.strip())
        assert re.fullmatch(
            r"S \[label=S(, \w+=(S|\w+))*\];|S -> S \[label=S(, style=dashed)?\];|"
            r"subgraph S \{|label=S; style=rounded; color=gray;|\}",
            bare,
        ), line
    assert dot_text(f'says "{shorten(HOSTILE_SAY)}"') in out
    assert '\\"no\\" </b><br><img src=x onerror=alert(1)>' not in out  # shortened, escaped


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('a "b" c', "a #34;b#34; c"),
        ("<script>", "#60;script#62;"),
        ("#1; 50%", "#35;1#59; 50#37;"),
        ("x: y|z", "x#58; y#124;z"),
        ("café ☎", "café ☎"),
        ("tab\tstop", "tab stop"),
    ],
)
def test_mermaid_text(text: str, expected: str) -> None:
    assert mermaid_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('say "hi"', 'say \\"hi\\"'),
        ("back\\slash \\n", "back\\\\slash \\\\n"),
        ("&lt; & >", "&amp;lt; &amp; >"),
        ("new\nline", "new line"),
    ],
)
def test_dot_text(text: str, expected: str) -> None:
    assert dot_text(text) == expected


def test_shorten_cuts_at_forty_characters_with_an_ellipsis() -> None:
    assert shorten("short  text\n here") == "short text here"
    cut = shorten("x" * 60)
    assert (len(cut), cut[-1]) == (40, "…")


def test_supervisor_chain_designer_view() -> None:
    out = render_graph(load_flow(ROOT / "flows" / "supervisor_chain.yaml"))
    for line in [
        '    n_dial_supervisors__1 -->|"busy, no_answer, declined, voicemail, unavailable#58; '
        'next target"| n_dial_supervisors__2',
        '    n_dial_supervisors__3 -->|"no_answer, busy, declined, voicemail, unavailable, '
        'caller_id_rejected"| n_still_trying',
        '    n_dial_supervisors -->|"exhausted"| n_return_to_agent',
        '    n_dial_supervisors__1 -->|"caller_id_rejected#58; refused with SIP 403, redial once '
        'showing +18005550100"| n_dial_supervisors__1',
        '    m_hold_limit -.->|"max_hold"| n_return_to_agent',
    ]:
        assert line + "\n" in out
    assert "ring 30 s" not in out
    assert "rings 20 s" in out
    assert "n_aborted" not in out


def test_the_docs_example_is_what_the_command_prints() -> None:
    page = (ROOT / "docs" / "diagrams.md").read_text()
    block = page.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert block == render_graph(load_flow(ROOT / "flows" / "supervisor_chain.yaml"))


def test_steps_named_like_the_markers_stay_apart_from_them() -> None:
    renamed = (
        FLOW.replace("  wait:", "  hold_limit:")
        .replace("fallback: back", "fallback: caller_hangs_up")
        .replace("  back:", "  caller_hangs_up:")
    )
    out = render_graph(load_flow(renamed))
    ids = re.findall(r"^ {4,8}([nm]_\w+)[(\[>]", out, re.M)
    assert len(ids) == len(set(ids))
    assert {"m_hold_limit", "n_hold_limit", "m_caller_hangs_up", "n_caller_hangs_up"} <= set(ids)
    assert '    m_hold_limit -.->|"max_hold"| n_caller_hangs_up\n' in out


def test_a_ring_group_is_drawn_as_rung_together_with_its_ring_time() -> None:
    flow = load_flow(Path(__file__).resolve().parents[2] / "flows" / "ring_group.yaml")
    text = render_graph(flow, "mermaid")
    assert (
        'n_dial_supervisors__1["1. rung together#58; alice, bob<br>ring 20 s#59; '
        'the first to answer is kept"]'
    ) in text
    assert 'n_dial_supervisors__2["2. team_lead<br>rings 25 s"]' in text
