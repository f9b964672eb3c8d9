"""Facade: a flow file in, a validated `Flow` out, or a `FlowError` listing every problem.

Reading (reader.py), shape and value checks (model.py with pydantic) and semantic checks
(checks.py) all report `Problem`s positioned in the file; this module turns pydantic's error
locations into those positions and into messages that name the key and the fix.
"""

from __future__ import annotations

import difflib
import re
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from orchestrator.errors import FlowError, Problem
from orchestrator.flow.checks import check_flow
from orchestrator.flow.model import Flow
from orchestrator.flow.reader import Document, ReadError, read_yaml

__all__ = ["load_flow"]

_MESSAGES = {
    "float_type": "must be a number, like 90 (unquoted)",
    "int_type": "must be a whole number, like 3 (unquoted)",
    "bool_type": "must be true or false (yes, no, on and off are not booleans here)",
    "string_type": "must be text",
    "model_type": "must be a mapping of keys to values",
    "dict_type": "must be a mapping of keys to values",
    "list_type": "must be a list, like [a, b]",
}
_SAFE = re.compile(r"[A-Za-z0-9_.+-]{1,64}")


def load_flow(source: str | Path | bytes, *, label: str | None = None) -> Flow:
    """Load and check a flow from a file path, or from YAML text or bytes.

    Args:
        source: a `Path` or path string to a `.yaml` file, or the YAML itself as bytes (or as
            a string containing a newline).
        label: the name used in problem lines; defaults to the path, or `<flow>`.

    Raises:
        FlowError: with every problem found, each positioned as `PATH:LINE:COL`.
    """
    if isinstance(source, bytes):
        raw, label = source, label or "<flow>"
    elif isinstance(source, str) and "\n" in source:
        raw, label = source.encode(), label or "<flow>"
    else:
        path = Path(source)
        label = label or str(source)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            reason = exc.strerror or "unreadable"
            raise FlowError(label, [Problem(1, 1, f"cannot read the file: {reason}")]) from None
    try:
        doc = read_yaml(raw)
    except ReadError as exc:
        raise FlowError(label, [exc.problem]) from None
    if not isinstance(doc.data, dict):
        raise FlowError(label, [Problem(1, 1, "a flow is a mapping with `name` and `steps`")])
    try:
        flow = Flow.model_validate(doc.data)
    except ValidationError as exc:
        raise FlowError(label, [_problem(error, doc) for error in exc.errors()]) from None
    problems = check_flow(flow, lambda path, key: doc.position(path, key=key))
    if problems:
        raise FlowError(label, problems)
    return flow


def _unwrap(annotation: Any, node: Any) -> Any:
    """The model (or container type) an annotation stands for at a given data node."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0], node)
    if origin in (Union, types.UnionType):
        members = [m for m in get_args(annotation) if m is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0], node)
        kind = node.get("type") if isinstance(node, dict) else None
        for member in members:
            model = _unwrap(member, node)
            fields = getattr(model, "model_fields", {})
            if "type" in fields and kind in get_args(fields["type"].annotation):
                return model
        return None
    return annotation


def _walk(loc: tuple[int | str, ...], data: Any) -> tuple[tuple[str | int, ...], Any]:
    """Follow a pydantic error location through the data, dropping union tags.

    Returns the data path and the type expected at its end (a model class when known).
    """
    path: list[str | int] = []
    annotation: Any = Flow
    node = data
    for part in loc:
        if part == "[key]":
            return tuple(path), None
        if isinstance(node, dict) and part == node.get("type") and part not in node:
            continue  # a discriminated union's tag, not a key of the document
        expected = _unwrap(annotation, node)
        if isinstance(expected, type) and issubclass(expected, BaseModel):
            field = expected.model_fields.get(str(part))
            annotation = field.annotation if field else None
        elif get_origin(expected) in (dict, list):
            annotation = get_args(expected)[-1]
        else:
            annotation = None
        path.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(path), _unwrap(annotation, node)


def _label(path: tuple[str | int, ...]) -> str:
    parts = [str(p) if isinstance(p, int) or _SAFE.fullmatch(p) else "?" for p in path]
    return ".".join(parts) or "flow"


def _problem(error: ErrorDetails, doc: Document) -> Problem:
    kind = error["type"]
    path, _ = _walk(tuple(error["loc"]), doc.data)
    if kind == "extra_forbidden":
        parent, key = path[:-1], str(path[-1])
        model = _walk(tuple(error["loc"])[:-1], doc.data)[1]
        allowed = sorted(getattr(model, "model_fields", {}))
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        shown = f"'{key}'" if _SAFE.fullmatch(key) else "with unusual characters"
        message = f"unknown key {shown} in {_label(parent)}{hint}; allowed: {', '.join(allowed)}"
        return Problem(*doc.position(path, key=True), message)
    if kind == "missing":
        return Problem(
            *doc.position(path[:-1]), f"{_label(path[:-1])}: missing required key '{path[-1]}'"
        )
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = error.get("ctx", {}).get("expected_tags", "")
        word = "missing" if kind == "union_tag_not_found" else "unknown"
        given = doc.data
        for part in path:
            given = given.get(part) if isinstance(given, dict) else None
        value = given.get("type") if isinstance(given, dict) else None
        choices = re.findall(r"'([a-z_]+)'", str(tags))
        close = difflib.get_close_matches(value, choices, n=1) if isinstance(value, str) else []
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return Problem(
            *doc.position((*path, "type")),
            f"{_label(path)}: {word} step type{hint}; use one of {', '.join(choices)}",
        )
    if kind == "dict_type" and path and path[-1] == "steps":
        return Problem(*doc.position(path), "steps: a mapping of step name to step")
    message = _MESSAGES.get(kind) or error["msg"]
    if kind in ("too_short", "too_long"):
        bound = error.get("ctx", {}).get("min_length" if kind == "too_short" else "max_length")
        word = "at least" if kind == "too_short" else "at most"
        message = f"must have {word} {bound} {'entry' if bound == 1 else 'entries'}"
    if kind.startswith("value_error"):
        message = message.removeprefix("Value error, ")
    message = message.replace("Input should be", "must be").replace("String should", "must")
    if "[key]" in error["loc"]:
        return Problem(*doc.position(path, key=True), f"name in {_label(path[:-1])}: {message}")
    return Problem(*doc.position(path), f"{_label(path)}: {message}")
