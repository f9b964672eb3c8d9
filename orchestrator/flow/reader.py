"""Strict, safe YAML reading: bytes in, plain data plus the position of every value out.

The flow file is untrusted input written by people, so this reader is deliberately narrower
than YAML: no tags (so no Python objects), no anchors or aliases (so no alias bombs), no YAML 1.1
type guessing (`NO`, `0123`, `12:30:00` and `1_000` stay text), no duplicate keys, only text
keys, and hard caps on size, nesting depth and node count that are checked before anything
grows. Values are built from the node tree by this module, never by PyYAML's constructors.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from orchestrator.errors import Problem
from orchestrator.flow.syntax import explain

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "Document", "ReadError", "read_yaml"]

MAX_BYTES = 256 * 1024
MAX_DEPTH = 16
MAX_NODES = 20_000

Path = tuple[str | int, ...]

# YAML 1.2 core schema, narrowed: no leading zeros, no `_` separators, no inf/nan, no hex/octal.
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_MAX_DIGITS = 24
# Invisible characters (bidirectional overrides, zero-width) hide what a file really says.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# What PyYAML's reader refuses, plus DEL, C1 controls, lone CRs and the Unicode line breaks
# (NEL, LS, PS) that would make our line numbers disagree with PyYAML's.
_FORBIDDEN_CHAR = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufffe\uffff]")


class ReadError(Exception):
    """The file is not acceptable YAML; carries one positioned problem."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass
class Document:
    """Parsed data with the 1-based (line, column) of every value and every mapping key."""

    data: Any
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """Where `path` is written; falls back to the nearest enclosing value that exists."""
        if key and path in self.keys:
            return self.keys[path]
        while path:
            if path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get((), (1, 1))


def _fail(line: int, column: int, message: str) -> ReadError:
    return ReadError(Problem(line, column, message))


def _at(node: Node | yaml.Event, message: str) -> ReadError:
    mark = node.start_mark
    return _fail(mark.line + 1, mark.column + 1, message) if mark else _fail(1, 1, message)


class _StrictLoader(yaml.SafeLoader):
    """Composes nodes only, refusing anchors, aliases, tags and runaway nesting on the way."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0
        self._count = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, AliasEvent):
            raise _at(event, "aliases (*name) are not allowed in flows; write the value out")
        if isinstance(event, ScalarEvent | CollectionStartEvent):
            if event.anchor is not None:
                raise _at(event, "anchors (&name) are not allowed in flows; write values out")
            explicit = (
                event.implicit == (False, False)
                if isinstance(event, ScalarEvent)
                else not event.implicit
            )
            if event.tag is not None and explicit:
                raise _at(event, "tags (!name) are not allowed in flows; remove the tag")
        self._count += 1
        if self._count > MAX_NODES:
            raise _at(event, f"the flow has more than {MAX_NODES} values; split it up")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _at(event, f"nesting is deeper than {MAX_DEPTH} levels; flatten the flow")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _decode(raw: bytes) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raise _fail(1, 1, "the file starts with a byte-order mark; save it as UTF-8 without BOM")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        column = len(raw[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        raise _fail(line, column, "the file is not valid UTF-8; save it as UTF-8") from None


def _scan_text(text: str) -> None:
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        indent = len(line) - len(line.lstrip(" \t"))
        tab = line.find("\t", 0, indent)
        if tab >= 0:
            raise _fail(number, tab + 1, "tab used for indentation; indent with spaces")
        bad = _FORBIDDEN_CHAR.search(line)
        if bad:
            code = f"U+{ord(bad.group()):04X}"
            raise _fail(number, bad.start() + 1, f"control character {code} is not allowed")
        hidden = _INVISIBLE.search(line)
        if hidden:
            code = f"U+{ord(hidden.group()):04X}"
            raise _fail(number, hidden.start() + 1, f"invisible character {code} is not allowed")


def _scalar(node: ScalarNode) -> Any:
    value: str = node.value
    if node.style is not None:  # quoted or block scalars are always text
        return value
    if value in ("", "~", "null"):
        return None
    if value in ("true", "false"):
        return value == "true"
    if _INT.fullmatch(value) or _FLOAT.fullmatch(value):
        # Python refuses to parse huge integers and turns huge floats into inf.
        if len(value) > _MAX_DIGITS or math.isinf(float(value)):
            raise _at(node, "number is too large; flows use small numbers like 90")
        return int(value) if _INT.fullmatch(value) else float(value)
    return value


def _build(node: Node, path: Path, doc: Document) -> Any:
    doc.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, ScalarNode):
        return _scalar(node)
    if isinstance(node, SequenceNode):
        return [_build(item, (*path, i), doc) for i, item in enumerate(node.value)]
    assert isinstance(node, MappingNode)
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, ScalarNode) or key_node.value == "<<":
            raise _at(
                key_node, "keys must be plain names; merge keys and complex keys are not allowed"
            )
        key = key_node.value
        if key in result:
            first = doc.keys[(*path, key)][0]
            raise _at(key_node, f"duplicate key {_quote(key)} (first set on line {first})")
        doc.keys[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        result[key] = _build(value_node, (*path, key), doc)
    return result


def _quote(text: str) -> str:
    """Echo a name only when it is harmless to print; anything else is described, not shown."""
    if re.fullmatch(r"[A-Za-z0-9_.+-]{1,64}", text):
        return f"'{text}'"
    return "(a key with unusual characters)"


def read_yaml(raw: bytes) -> Document:
    """Parse one YAML document under the rules above, or raise ReadError with a position."""
    if len(raw) > MAX_BYTES:
        raise _fail(1, 1, "the file is larger than 256 KiB, the limit for flows; split it up")
    text = _decode(raw)
    _scan_text(text)
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        explained = explain(text, exc)
        if explained is not None:
            raise ReadError(explained) from None
        mark = exc.problem_mark or exc.context_mark
        # PyYAML quotes pieces of the input in its messages; never repeat them.
        problem = re.sub(r"'[^']*'|\"[^\"]*\"|`[^`]*`", "(...)", exc.problem or "invalid YAML")
        problem = re.sub(r"[^\x20-\x7e]", "?", problem.replace("\n", " "))[:160]
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise _fail(line, column, f"invalid YAML: {problem}") from None
    finally:
        loader.dispose()
    if node is None:
        raise _fail(1, 1, "the file is empty; a flow needs at least `name` and `steps`")
    doc = Document(data=None)
    doc.data = _build(node, (), doc)
    return doc
