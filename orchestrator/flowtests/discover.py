"""Which files are scenario tests: those with a top-level `flow:` key (flows never have one)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from orchestrator.flow.reader import MAX_BYTES

__all__ = ["discover", "is_flow_test"]

# A top-level key is written at column 0; a file with a YAML mistake is still found (and
# then reported at its line), which parsing to decide would hide.
_FLOW_KEY = re.compile(rb"^(?:flow|'flow'|\"flow\")[ \t]*:", re.MULTILINE)
_SUFFIXES = (".yaml", ".yml")


def is_flow_test(path: Path) -> bool:
    """Whether a YAML file is a scenario test (it names its flow with `flow:`)."""
    try:
        with path.open("rb") as stream:
            head = stream.read(MAX_BYTES + 1)
    except OSError:
        return False
    return _FLOW_KEY.search(head) is not None


def discover(paths: Sequence[Path]) -> list[Path]:
    """The scenario test files among `paths`: a file is taken as given; a folder is searched
    recursively (hidden folders skipped) for `.yaml`/`.yml` files with a top-level `flow:`
    key. Sorted within each folder, without duplicates, in the order the paths were given."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(
                    candidate
                    for candidate in path.rglob("*")
                    if candidate.suffix in _SUFFIXES
                    and candidate.is_file()
                    and not any(part.startswith(".") for part in candidate.relative_to(path).parts)
                    and is_flow_test(candidate)
                )
            )
        else:
            found.append(path)
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path, None)
    return list(unique)
