"""PyYAML's syntax errors in a flow designer's words, at the line where the mistake starts.

PyYAML reports where it noticed the problem, which is often far below the mistake: a quote
left open on line 28 is read as text running on until the next quote, and the parser trips
at line 45. Each rule below recognises one common mistake from the error and the text, and
points at its start. Nothing of the input is repeated in a message (the file is untrusted).
"""

from __future__ import annotations

import re

import yaml
from yaml.tokens import ScalarToken

from orchestrator.errors import Problem

__all__ = ["explain"]

_KEY_LINE = re.compile(r"\s*[A-Za-z_][\w.-]*:(?:\s|$)")
_KEY_VALUE = re.compile(r"\s*(?:-\s+)?[A-Za-z_][\w.-]*:\s+\S")


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _open_quote(text: str) -> Problem | None:
    """A quoted text running over lines that look like `key: value`: the quote was not
    closed where it should have been (PyYAML allows quoted text over several lines)."""
    lines = _lines(text)
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if not isinstance(token, ScalarToken) or token.style not in ('"', "'"):
                continue
            start, end = token.start_mark, token.end_mark
            inside = lines[start.line + 1 : end.line + 1]
            if end.line > start.line and any(_KEY_LINE.match(line) for line in inside):
                return _quote_problem(start.line + 1, start.column + 1, token.style)
    except yaml.MarkedYAMLError:
        pass  # the tokens up to the error were looked at
    return None


def _quote_problem(line: int, column: int, quote: str) -> Problem:
    mark = 'double quote (")' if quote == '"' else "single quote (')"
    return Problem(
        line,
        column,
        f"a quoted text starts here with a {mark} and never ends: close the "
        "quote at the end of the text, on this line",
    )


def _colon_in_text(text: str, line: int, column: int) -> Problem | None:
    """`say: Note: ...`: the value holds ': ' and YAML reads it as another key."""
    row = _lines(text)[line - 1] if line <= len(_lines(text)) else ""
    before = row[: column - 1]
    found = _KEY_VALUE.match(before)
    if found is None:
        return None
    value_at = len(before) - len(before[before.index(":") + 1 :].lstrip()) + 1
    return Problem(
        line,
        value_at,
        "an unquoted text cannot contain ': ' (YAML reads it as a new key): "
        'put the whole text in quotes, like say: "Note: we are closed"',
    )


def _indented(text: str, line: int) -> Problem:
    row = _lines(text)[line - 1] if line <= len(_lines(text)) else ""
    spaces = len(row) - len(row.lstrip(" "))
    return Problem(
        line,
        spaces + 1,
        f"this line's indentation ({spaces} spaces) does not fit the lines "
        "above it: start every key of one mapping in the same column, and indent a key's "
        "contents further than the key",
    )


def explain(text: str, error: yaml.MarkedYAMLError) -> Problem | None:
    """The mistake behind `error`, in plain words at its start; None when no rule knows it."""
    problem = error.problem or ""
    context = error.context or ""
    where = error.problem_mark
    line = where.line + 1 if where else 1
    column = where.column + 1 if where else 1
    if "quoted scalar" in context and error.context_mark is not None:
        start = error.context_mark
        quote = text[start.index] if start.index < len(text) else '"'
        return _quote_problem(start.line + 1, start.column + 1, quote)
    opened = _open_quote(text)
    if opened is not None and opened.line <= line:
        return opened
    if context.startswith("while parsing a flow") and error.context_mark is not None:
        start = error.context_mark
        kind, close = ("list", "]") if "sequence" in context else ("mapping", "}")
        opener = "[" if close == "]" else "{"
        if "<stream end>" in problem:  # reported where the file ends, as it always was
            return Problem(
                line,
                column,
                f"invalid YAML: the file ends inside a {kind} opened with {opener} on line "
                f"{start.line + 1}: put {close} after its last item",
            )
        return Problem(
            start.line + 1,
            start.column + 1,
            f"a {kind} opened with {opener} here is not closed: put "
            f"{close} after its last item, on this line (or quote a text holding {opener})",
        )
    if problem.startswith("mapping values are not allowed"):
        return _colon_in_text(text, line, column) or _indented(text, line)
    if problem.startswith("expected <block end>") or "block collection" in context:
        return _indented(text, line)
    if "could not find expected ':'" in problem and error.context_mark is not None:
        start = error.context_mark
        return Problem(
            start.line + 1,
            start.column + 1,
            "a key needs ': ' after it (write key: value), or this "
            "line belongs to the text above and needs quotes",
        )
    return None
