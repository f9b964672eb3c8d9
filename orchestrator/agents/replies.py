"""What the transfer tool tells the LLM: what happened, and what to do next."""

from __future__ import annotations

from orchestrator.engine import TransferOutcome
from orchestrator.errors import TransferError, TransferInProgress

__all__ = ["IN_PROGRESS", "NO_CALLER", "for_error", "for_outcome"]

NO_CALLER = (
    "No transfer was started: there is no phone caller in this call, and only phone calls "
    "can be transferred to a supervisor. Tell the user you cannot transfer this conversation."
)
IN_PROGRESS = (
    "A transfer to a supervisor is already in progress for this caller. Do not start another "
    "one; the caller is being connected."
)
_SILENT = " Do not say anything more."
_WHY = {
    "no_answer": "the supervisor did not answer",
    "busy": "the supervisor's line was busy",
    "declined": "the supervisor could not take the call",
    "voicemail": "the call reached a voicemail box",
    "timeout": "the supervisor did not accept the call in time",
    "supervisor_left": "the supervisor hung up",
    "caller_id_rejected": "the phone carrier refused the call",
    "move_failed": "the calls could not be joined",
    "max_hold": "the caller had waited on hold too long",
    "exhausted": "no supervisor was available",
    "unavailable": "the supervisor could not be reached",
    "worker_lost": "the transfer was interrupted",
    "flow_changed": "the transfer was interrupted",
    "cancelled": "the transfer was cancelled",
    "permission": "the transfer is not set up correctly",
    "config_error": "the transfer is not set up correctly",
    "move_unavailable": "the transfer is not set up correctly",
    "callback": "nobody can take the call now, and the caller was told they will be called back",
}


def _why(reason: str | None) -> str:
    return _WHY.get(reason or "", "something went wrong")


def for_outcome(outcome: TransferOutcome) -> str:
    if outcome.kind == "merged":
        return "Transfer complete: the caller is now talking with a supervisor." + _SILENT
    if outcome.kind == "caller_hung_up":
        return "The caller hung up during the transfer; the call is over." + _SILENT
    if outcome.kind == "cold_transferred":
        return "The caller was transferred to another number and has left this call." + _SILENT
    if outcome.kind == "hung_up":
        return "The call was ended, as the transfer flow says." + _SILENT
    back = "The caller is off hold and back with you: apologise briefly and keep helping them"
    if outcome.kind == "returned":
        return f"The transfer did not go through: {_why(outcome.reason)}. {back}."
    return f"The transfer failed: {_why(outcome.reason)}. {back}; do not retry right away."


def for_error(error: TransferError) -> str:
    """A transfer that could not start; the caller was never put on hold."""
    if isinstance(error, TransferInProgress):
        return IN_PROGRESS
    if error.retryable:
        return (
            "The transfer could not start because the phone system did not answer. The "
            "caller is still with you; you may try the transfer once more."
        )
    return (
        f"The transfer could not start: {_why(error.reason)}. The caller is still with you: "
        "tell them a transfer is not possible right now and keep helping them."
    )
