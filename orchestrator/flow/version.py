"""A flow's version: a short hash of what the flow means, not of how its file is written.

The hash is taken over the validated flow (its canonical JSON, defaults left out), so
comments, spacing, quoting and the order of keys inside a step do not change it; any change
to a value, a step, a target, or the order of steps and targets does. Defaults are left out
so that a library upgrade adding an option does not change the version of a flow that does
not use it.
"""

from __future__ import annotations

import hashlib

from orchestrator.flow.model import Flow

__all__ = ["VERSION_CHARS", "flow_version"]

VERSION_CHARS = 12


def flow_version(flow: Flow) -> str:
    """The first 12 hex digits of the SHA-256 of the flow's canonical JSON."""
    canonical = flow.model_dump_json(exclude_defaults=True).encode()
    return hashlib.sha256(canonical).hexdigest()[:VERSION_CHARS]
