"""The one exception hierarchy of the library.

```
OrchestratorError
 └── FlowError            a flow file cannot be loaded: carries every Problem found
```

Runtime errors (dial failures, API faults) join this tree with the engine. Every error carries
data, not only text, and every message says how to fix what it reports.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FlowError", "OrchestratorError", "Problem"]


class OrchestratorError(Exception):
    """Base class of every error this library raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a flow, at a 1-based line and column of its file."""

    line: int
    column: int
    message: str

    def render(self, path: str) -> str:
        """The compiler-style `PATH:LINE:COL: message` line editors and CI understand."""
        return f"{path}:{self.line}:{self.column}: {self.message}"


class FlowError(OrchestratorError):
    """A flow is invalid. `problems` lists everything found, in file order."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = sorted(problems, key=lambda p: (p.line, p.column))
        count = len(self.problems)
        first = self.problems[0].render(source) if self.problems else source
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(f"{first}{more}")
