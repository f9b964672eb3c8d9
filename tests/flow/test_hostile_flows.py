"""The hostile and broken flow corpus: each file is refused, positioned, without echoing it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.flow.reader import MAX_BYTES
from tests.conftest import BASE, HOSTILE

EXPECTED: dict[str, tuple[int, int, str]] = {
    "alias_bomb": (1, 4, "anchors (&name) are not allowed"),
    "anchor_reuse": (4, 8, "anchors (&name) are not allowed"),
    "bad_dtmf": (4, 39, "targets.sup.dtmf: DTMF must be"),
    "brief_before_dial": (7, 21, "step 'brief_sup' can run with no answered supervisor"),
    "byte_order_mark": (1, 1, "byte-order mark"),
    "control_character": (2, 19, "control character U+0007"),
    "custom_tag": (1, 7, "tags (!name) are not allowed"),
    "deep_nesting": (2, 23, "nesting is deeper than 16 levels"),
    "duplicate_key": (12, 3, "duplicate key 'dial_sup' (first set on line 7)"),
    "empty": (1, 1, "the file is empty"),
    "forbidden_header": (4, 42, "targets.sup.headers: header names must be X-"),
    "header_injection": (4, 42, "header values must be quoted printable ASCII"),
    "huge_retries": (6, 57, "steps.hold_caller.max_visits: must be a whole number"),
    "long_display_name": (4, 47, "display_name must be 1 to 128 characters"),
    "max_hold_back_to_dial": (3, 14, "after max_hold the flow can still reach"),
    "merge_key": (6, 17, "merge keys and complex keys are not allowed"),
    "negative_timeout": (7, 51, "ring_timeout: must be greater than or equal to 5"),
    "no_terminal": (2, 1, "the flow has no terminal step"),
    "not_a_mapping": (1, 1, "a flow is a mapping"),
    "not_utf8": (2, 17, "not valid UTF-8"),
    "number_fullwidth": (4, 17, "must be an E.164 phone number"),
    "number_too_long": (4, 17, "must be an E.164 phone number"),
    "number_with_crlf": (4, 17, "must be an E.164 phone number"),
    "number_with_letter": (4, 17, "must be an E.164 phone number"),
    "python_tag": (1, 7, "tags (!name) are not allowed"),
    "reserved_step_name": (10, 3, "step name 'send' is reserved"),
    "sexagesimal_timeout": (2, 11, "max_hold: must be a number"),
    "sip_where_number": (4, 17, "must be an E.164 phone number"),
    "tab_indent": (6, 1, "tab used for indentation"),
    "template_injection": (8, 33, "templates may only use {caller_number}"),
    "two_documents": (12, 1, "invalid YAML"),
    "typo_key": (7, 37, "unknown key 'ringing_timout' in steps.dial_sup (did you mean"),
    "unbudgeted_loop": (9, 3, "the loop through sorry -> wait has no budget"),
    "unhandled_outcome": (5, 23, "step 'hold_caller' does not say where outcome(s) failed go"),
    "unknown_next": (8, 68, "unknown step 'merge_cal' (did you mean 'merge_call'?)"),
    "unknown_step_type": (9, 22, "unknown step type (did you mean 'merge'?)"),
    "unknown_target": (7, 31, "unknown target 'supp' (did you mean 'sup'?)"),
    "unquoted_number": (4, 17, "phone numbers must be quoted strings"),
    "unreachable_step": (12, 3, "step 'orphan' is unreachable"),
    "utf16": (1, 1, "not valid UTF-8"),
    "yes_no_boolean": (4, 48, "play_dialtone: must be true or false"),
}

# Fragments of the hostile values themselves: none may appear in what the CLI prints.
HOSTILE_FRAGMENTS = ["X-Evil", "Via: evil", "pwned", "boss@evil", "A" * 129, "\r", "\x07", "\x1b"]

POSITIONED = re.compile(r"^(?P<path>.+):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")


def test_corpus_is_complete() -> None:
    assert {p.stem for p in HOSTILE.glob("*.yaml")} == set(EXPECTED)
    assert len(EXPECTED) >= 25


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_file_is_refused(name: str) -> None:
    path = HOSTILE / f"{name}.yaml"
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stdout.splitlines()
    assert lines, "at least one problem line"
    for line in lines:
        match = POSITIONED.match(line)
        assert match, f"not a PATH:LINE:COL line: {line!r}"
        assert match["path"] == str(path)
    line, column, fragment = EXPECTED[name]
    assert any(f"{path}:{line}:{column}: " in text and fragment in text for text in lines), (
        result.stdout
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    for hostile in HOSTILE_FRAGMENTS:
        assert hostile not in output
    assert all(ch.isprintable() for ch in output.replace("\n", ""))


def test_ten_megabyte_file(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(BASE.encode() + b"# " + b"x" * (10 * 1024 * 1024) + b"\n")
    result = CliRunner().invoke(app, ["validate", str(huge)])
    assert result.exit_code == 1
    assert (
        result.stdout
        == f"{huge}:1:1: the file is larger than 256 KiB, the limit for flows; split it up\n"
    )


def test_many_steps_near_the_cap_still_load(tmp_path: Path) -> None:
    """Big but legal: 500 announce steps in a budgeted chain load well under the byte cap."""
    steps = "".join(
        f"  s{i}: {{type: announce, say: Step {i}, next: s{i + 1}}}\n" for i in range(500)
    )
    text = f"name: big\nfallback: s500\nsteps:\n{steps}  s500: {{type: hangup}}\n"
    assert len(text) < MAX_BYTES
    flow_file = tmp_path / "big.yaml"
    flow_file.write_text(text)
    assert CliRunner().invoke(app, ["validate", str(flow_file)]).exit_code == 0
