"""The one exception hierarchy of the library.

```
OrchestratorError
 ├── FlowError            a flow file cannot be loaded: carries every Problem found
 └── TransferError        a transfer cannot start or run: carries reason, SIP status, retryable
      └── TransferInProgress   a second transfer was requested for the same caller
```

Every error carries data, not only text, and every message says how to fix what it reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.logs import mask

__all__ = ["FlowError", "OrchestratorError", "Problem", "TransferError", "TransferInProgress"]


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


class TransferError(OrchestratorError):
    """A transfer could not start or went wrong in a way the flow cannot route.

    `reason` is one of the typed failure reasons (`config_error`, `permission`, ...),
    `sip_status` the SIP status when one was involved, `retryable` whether trying again later
    could succeed.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        sip_status: int | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.sip_status = sip_status
        self.retryable = retryable

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({str(self)!r}, reason={self.reason!r}, "
            f"sip_status={self.sip_status!r}, retryable={self.retryable!r})"
        )


class TransferInProgress(TransferError):
    """The caller already has a transfer running; wait for its outcome instead."""

    def __init__(self, room: str) -> None:
        # Room names can carry the caller's number (LiveKit's default dispatch names do).
        super().__init__(
            f"a transfer is already in progress for the caller in room {mask(room)!r}; await "
            "its outcome instead of starting another",
            reason="in_progress",
            retryable=True,
        )
