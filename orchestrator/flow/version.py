"""A flow's version: a short hash of what the flow means, not of how its file is written.

The hash is taken over the validated flow (its canonical JSON, defaults left out), so
comments, spacing, quoting and the order of keys inside a step do not change it; any change
to a value, a step, a target, or the order of steps and targets does. Defaults are left out
so that a library upgrade adding an option does not change the version of a flow that does
not use it.

It is written with letters only (the hex digits 0-f as the letters a-p): a run of digits in
it would be masked in the logs as a phone number, and then no longer match the checkpoint.
"""

from __future__ import annotations

import hashlib

from orchestrator.flow.model import Flow

__all__ = ["VERSION_CHARS", "flow_version", "is_flow_version"]

VERSION_CHARS = 12
_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")


def flow_version(flow: Flow) -> str:
    """The first 12 hex digits of the SHA-256 of the flow's canonical JSON, as letters."""
    canonical = flow.model_dump_json(exclude_defaults=True).encode()
    return hashlib.sha256(canonical).hexdigest()[:VERSION_CHARS].translate(_LETTERS)


def is_flow_version(text: str) -> bool:
    """Whether `text` is a version `flow_version` makes (anything else names none)."""
    return len(text) == VERSION_CHARS and set(text) <= set("abcdefghijklmnop")
