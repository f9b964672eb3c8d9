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
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from orchestrator.errors import FlowError, Problem
from orchestrator.flow.checks import check_flow
from orchestrator.flow.model import Flow
from orchestrator.flow.reader import MAX_BYTES, Document, ReadError, read_yaml

__all__ = ["load_document", "load_flow"]

Model = TypeVar("Model", bound=BaseModel)

_MESSAGES = {
    "float_type": "must be a number, like 90 (unquoted)",
    "int_type": "must be a whole number, like 3 (unquoted)",
    "bool_type": "must be true or false (yes, no, on and off are not booleans here)",
    "string_type": "must be text",
    "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
    "dict_type": "must be a mapping of keys to values",
    "list_type": "must be a list, like [a, b]",
}
_SAFE = re.compile(r"[A-Za-z0-9_.+-]{1,64}")
_SAFE_PATH = re.compile(r"[A-Za-z0-9_.+/ -]{1,200}")


def load_flow(
    source: str | Path | bytes,
    *,
    label: str | None = None,
    check_music: bool = False,
    music_dir: str | Path | None = None,
) -> Flow:
    """Load and check a flow from a file path, or from YAML text or bytes.

    Args:
        source: a `Path` or path string to a `.yaml` file, or the YAML itself as bytes (or as
            a string containing a newline).
        label: the name used in problem lines; defaults to the path, or `<flow>`.
        check_music: also check that every hold step's `music` file exists (`builtin` and
            `none` always do), in `music_dir`: by default the flow file's folder (the current
            directory for YAML given as text), as `WarmTransfer` looks for them.

    Raises:
        FlowError: with every problem found, each positioned as `PATH:LINE:COL`.
    """
    flow, doc, label = load_document(source, Flow, label=label)
    problems = check_flow(flow, lambda path, key: doc.position(path, key=key))
    if check_music:
        if music_dir is not None:
            folder, which = Path(music_dir), "the music folder"
        elif isinstance(source, bytes) or (isinstance(source, str) and "\n" in source):
            folder, which = Path.cwd(), "the current folder"
        else:
            folder, which = Path(source).parent, "the flow file's folder"
        problems += _missing_music(flow, doc, folder, which)
    if problems:
        raise FlowError(label, _capped(problems))
    return flow


MAX_PROBLEMS = 100


def _missing_music(flow: Flow, doc: Document, folder: Path, which: str) -> list[Problem]:
    """A hold step's music file that is not there (the value is a safe relative path: the
    model allows letters, digits, `_./-` only, no `..`, so it may be echoed)."""
    problems = []
    for name, step in flow.steps.items():
        music = getattr(step, "music", None)
        if music in (None, "builtin", "none") or (folder / music).is_file():
            continue
        line, column = doc.position(("steps", name, "music"))
        problems.append(
            Problem(
                line,
                column,
                f"steps.{name}.music: the file '{music}' is not in {which}"
                f"{_shown(folder)}: add it there, fix the path, pass --music-dir DIR (the "
                "folder the worker's music_dir names), or use music: builtin",
            )
        )
    return problems


def _shown(folder: Path) -> str:
    text = str(folder) or "."
    return f" ({text})" if _SAFE_PATH.fullmatch(text) else ""


def _capped(problems: list[Problem]) -> list[Problem]:
    """At most MAX_PROBLEMS, then one line saying how many more there are."""
    if len(problems) <= MAX_PROBLEMS:
        return problems
    ordered = sorted(problems, key=lambda p: (p.line, p.column))
    rest = ordered[MAX_PROBLEMS]
    more = f"... and {len(ordered) - MAX_PROBLEMS} more problems; fix these first"
    return [*ordered[:MAX_PROBLEMS], Problem(rest.line, rest.column, more)]


def load_document(
    source: str | Path | bytes, model: type[Model], *, label: str | None = None
) -> tuple[Model, Document, str]:
    """Read strict YAML into `model`; every problem is positioned in the file."""
    if isinstance(source, bytes):
        raw, label = source, label or "<flow>"
    elif isinstance(source, str) and "\n" in source:
        raw, label = source.encode(), label or "<flow>"
    else:
        path = Path(source)
        label = label or str(source)
        try:
            with path.open("rb") as stream:  # never read more than the cap allows
                raw = stream.read(MAX_BYTES + 1)
        except OSError as exc:
            reason = exc.strerror or "unreadable"
            raise FlowError(label, [Problem(1, 1, f"cannot read the file: {reason}")]) from None
    try:
        doc = read_yaml(raw)
    except ReadError as exc:
        raise FlowError(label, [exc.problem]) from None
    if not isinstance(doc.data, dict):
        what = (
            "a flow is a mapping with `name` and `steps`"
            if model is Flow
            else "expected a mapping"
        )
        raise FlowError(label, [Problem(1, 1, what)])
    try:
        return model.model_validate(doc.data), doc, label
    except ValidationError as exc:
        errors = exc.errors()[: MAX_PROBLEMS + 1]
        problems = [_problem(error, doc, model) for error in errors]
        if exc.error_count() > MAX_PROBLEMS:
            more = exc.error_count() - MAX_PROBLEMS
            last = problems.pop()
            problems.append(Problem(last.line, last.column, f"... and {more} more problems"))
        raise FlowError(label, problems) from None


def _members(annotation: Any) -> list[Any]:
    """The non-None alternatives of a union annotation (one item for anything else)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [m for m in get_args(annotation) if m is not type(None)]
    return [annotation]


def _unwrap(annotation: Any, node: Any) -> Any:
    """The model (or container type) an annotation stands for at a given data node."""
    members = _members(annotation)
    if len(members) == 1:
        member = members[0]
        return member if member is annotation else _unwrap(member, node)
    kind = node.get("type") if isinstance(node, dict) else None
    for member in members:
        model = _unwrap(member, node)
        fields = getattr(model, "model_fields", {})
        if "type" in fields and kind in get_args(fields["type"].annotation):
            return model
    # A name or a mapping (a dial step's `to` entry: a target or a ring group).
    models = [m for m in (_unwrap(member, node) for member in members) if _is_model(m)]
    if isinstance(node, dict) and len(models) == 1:
        return models[0]
    return None


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _walk(
    loc: tuple[int | str, ...], data: Any, root: type[BaseModel], *, key_error: bool = False
) -> tuple[tuple[str | int, ...], Any]:
    """Follow a pydantic error location through the data.

    pydantic puts the member's tag after every union in a location (the step `type` for
    steps); those parts are skipped by position, never by their text, which a document could
    imitate. With `key_error`, the final `[key]` marks an invalid mapping key.
    Returns the data path and the type expected at its end (a model class when known).
    """
    path: list[str | int] = []
    annotation: Any = root
    node = data
    skip_tag = False
    for index, part in enumerate(loc):
        if key_error and index == len(loc) - 1:
            return tuple(path), None
        if skip_tag:
            skip_tag = False
            continue
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
        skip_tag = len(_members(annotation)) > 1
    return tuple(path), _unwrap(annotation, node)


def _label(path: tuple[str | int, ...]) -> str:
    parts = [str(p) if isinstance(p, int) or _SAFE.fullmatch(p) else "?" for p in path]
    return ".".join(parts) or "flow"


def _problem(error: ErrorDetails, doc: Document, root: type[BaseModel]) -> Problem:
    kind = error["type"]
    loc = tuple(error["loc"])
    key_error = kind != "extra_forbidden" and loc[-1:] == ("[key]",)
    path, _ = _walk(loc, doc.data, root, key_error=key_error)
    if kind == "extra_forbidden":
        parent, key = path[:-1], str(path[-1])
        model = _walk(loc[:-1], doc.data, root)[1]
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
    if kind in ("too_short", "too_long", "string_too_short", "string_too_long"):
        short = kind.endswith("too_short")
        bound = error.get("ctx", {}).get("min_length" if short else "max_length")
        noun = "characters" if isinstance(error.get("input"), str) else "entries"
        noun = noun.removesuffix("s").replace("entrie", "entry") if bound == 1 else noun
        message = f"must have {'at least' if short else 'at most'} {bound} {noun}"
    if kind.startswith("value_error"):
        message = message.removeprefix("Value error, ")
    message = message.replace("Input should be", "must be").replace("String should", "must")
    if key_error:
        return Problem(*doc.position(path, key=True), f"name in {_label(path[:-1])}: {message}")
    return Problem(*doc.position(path), f"{_label(path)}: {message}")
