"""The one exception hierarchy of the library.

```
OrchestratorError
 ├── FlowError            a flow file cannot be loaded: carries every Problem found
 ├── LiveKitError         a LiveKit API call failed: carries its Twirp code and SIP status
 └── TransferError        a transfer cannot start or run: carries reason, SIP status, retryable
      └── TransferInProgress   a second transfer was requested for the same caller
```

Every error carries data, not only text, and every message says how to fix what it reports.
No message shows a phone number: numbers in it are masked when the error is made (see
`orchestrator.masking`), so `str(error)` is safe to log or print. `FlowError` is the one
exception: it quotes a flow file back to its author, position by position, and its hints show
the number format by example.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.logs import mask
from orchestrator.masking import mask_numbers

__all__ = [
    "FlowError",
    "LiveKitError",
    "OrchestratorError",
    "Problem",
    "TransferError",
    "TransferInProgress",
]


class OrchestratorError(Exception):
    """Base class of every error this library raises on purpose. Phone numbers in a message
    are masked when the error is made: `str(error)` never shows one."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(mask_numbers(arg) if isinstance(arg, str) else arg for arg in args))


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
        # Not masked: the author's own file, and hints like `"+14155552671"` that show the format.
        Exception.__init__(self, f"{first}{more}")


_TRANSIENT = ("unavailable", "internal", "unknown", "resource_exhausted", "deadline_exceeded")


class LiveKitError(OrchestratorError):
    """A LiveKit server API call failed; the library's own calls raise this, never the SDK's
    errors. Transfers handle it (a flow outcome, a retry, a cleanup warning); you see it only
    from the `orchestrator.livekit` adapters.

    `code` is the Twirp error code (`not_found`, `unavailable`, `unauthenticated`, ...) and
    `status` the HTTP status; when a dialled phone refused the call, `sip_status` and
    `sip_reason` are the SIP final response (486, "Busy Here").
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int,
        sip_status: int | None = None,
        sip_reason: str = "",
    ) -> None:
        super().__init__(message)
        self.code, self.status = code, status
        # A carrier's reason phrase is free text, and may quote the number it refused.
        self.sip_status, self.sip_reason = sip_status, mask_numbers(sip_reason)

    @property
    def denied(self) -> bool:
        """The API key or its grants were refused: retrying will not help, a new key will.

        Not a phone's refusal: LiveKit's SIP bridge answers a dial refused with SIP 403 or
        603 `permission_denied` too, with the SIP status attached."""
        if self.sip_status is not None:
            return False
        return self.code in ("unauthenticated", "permission_denied") or self.status == 401

    @property
    def retryable(self) -> bool:
        """The server or the network failed; the same call may succeed later."""
        return self.code in _TRANSIENT or self.status >= 500


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

    def __init__(self, room: str, *, elsewhere: bool = False) -> None:
        # Room names can carry the caller's number (LiveKit's default dispatch names do).
        where = f"for the caller in room {mask(room)!r}"
        if elsewhere:
            message = (
                f"another transfer holds the caller in room {mask(room)!r} (its transfer.id is "
                "on the caller, or a supervisor leg it dialled is in the room); wait for it to "
                "end, or, if its worker is gone, call recover() first"
            )
        else:
            message = (
                f"a transfer is already in progress {where}; await its outcome instead of "
                "starting another"
            )
        super().__init__(message, reason="in_progress", retryable=True)
