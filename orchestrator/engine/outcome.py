"""The typed result of a transfer: what happened, why, and how long the caller waited."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Attempt", "Callback", "OutcomeKind", "TransferOutcome"]

OutcomeKind = Literal[
    "merged", "returned", "caller_hung_up", "cold_transferred", "hung_up", "failed"
]


@dataclass
class Attempt:
    """One dial of one target: when, with which caller ID, and how it ended."""

    target: str
    identity: str
    caller_id: Literal["caller", "business"]
    started_s: float
    ended_s: float | None = None
    result: str = "dialing"
    sip_status: int | None = None
    group: str | None = None
    """The ring group it was rung in (`step/place`, the place in the chain from 1); None
    when it rang alone. A group's other attempts end `another_answered` once one answered."""


@dataclass(frozen=True)
class Callback:
    """A call back the flow promised the caller (a `callback` step); placing it is the
    application's work. `number` is E.164, in full here (the logs mask it)."""

    number: str
    step: str
    """The callback step that promised it."""
    promised_s: float
    """Seconds after the transfer started."""
    not_before: dt.datetime | None = None
    """With the step's `schedule`: when it next opens (UTC; the promise's time if open)."""


@dataclass(frozen=True)
class TransferOutcome:
    """Exactly one per transfer.

    `kind` is `merged`, `returned` (to the AI), `caller_hung_up`, `cold_transferred`,
    `hung_up` or `failed`; `reason` says why for everything but `merged` (for example
    `no_answer`, `busy`, `declined`, `voicemail`, `supervisor_left`, `caller_id_rejected`,
    `move_failed`, `max_hold`, `config_error`, `permission`, `callback`). `flow_version` is
    the version of the flow the transfer ran (`orchestrator.flow.version`; '' when unknown).
    `callback` is set when a callback step promised the caller a call back (the transfer
    then ends `returned` or `hung_up`, as the flow says, with reason `callback`).
    """

    kind: OutcomeKind
    reason: str | None
    final_step: str
    sip_status: int | None = None
    hold_seconds: float = 0.0
    time_to_supervisor_seconds: float | None = None
    attempts: list[Attempt] = field(default_factory=list)
    flow_version: str = ""
    callback: Callback | None = None
