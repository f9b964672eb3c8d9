"""Scenario files: the caller, the outbound trunk, how dialled phones behave, API faults.

Read with the same strict YAML reader as flows, so a scenario error is a positioned
`PATH:LINE:COL: message` too. The keys of DESIGN.md section 4 are kept; `decide_after` (when
a scripted supervisor reacts to the brief) and per-fault `message`, `lose_response` and
`sip_status_code` extend them.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from livekit.protocol import agent_dispatch, room, sip
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
)

from orchestrator.flow.loader import load_document
from orchestrator.flow.values import E164, PhoneNumber, TrunkId
from orchestrator.sandbox.twirp import HTTP_STATUS

__all__ = [
    "BriefTalk",
    "CallerSpec",
    "FaultSpec",
    "PhoneSpec",
    "Scenario",
    "TrunkSpec",
    "load_scenario",
]

PHONE_OUTCOMES = ("busy", "no_answer", "decline", "unavailable", "request_timeout", "voicemail")
RPCS = frozenset(
    f"{service.name}.{method.name}"
    for module in (room, sip, agent_dispatch)
    for service in module.DESCRIPTOR.services_by_name.values()
    for method in service.methods
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _caller_number(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError('phone numbers must be quoted strings, like "+14155552671"')
    if not re.fullmatch(r"[A-Za-z0-9+*#._-]{1,64}", value):
        raise ValueError("the caller's number is letters, digits and + * # . _ - (at most 64)")
    return value


class CallerSpec(_Strict):
    number: Annotated[str, BeforeValidator(_caller_number)] = Field(
        "+14155552671",
        description="The From user of the inbound call, as the carrier sent it (it becomes "
        "sip.phoneNumber): usually E.164, but anonymous or a bare number are possible.",
    )
    hangup_after: float | None = Field(
        None, ge=0, le=86_400, description="Seconds after the caller is placed, then hang up."
    )


class TrunkSpec(_Strict):
    id: TrunkId = "ST_sandbox"
    numbers: list[PhoneNumber] = Field(["+18005550100"], max_length=100)
    caller_id_policy: Literal["any", "owned_only"] = Field(
        "any", description="owned_only: a From number not in `numbers` gets SIP 403."
    )


def _answer(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 3600:
        return float(value)
    if value in PHONE_OUTCOMES:
        return value
    raise ValueError(
        "answer is the seconds until the phone answers (0 to 3600), or one of "
        + ", ".join(PHONE_OUTCOMES)
    )


def _rpc(value: Any) -> str:
    if isinstance(value, str) and value in RPCS:
        return value
    raise ValueError(
        "rpc is Service.Method of the LiveKit API, like RoomService.MoveParticipant or "
        "SIP.CreateSIPParticipant"
    )


def _reaction_kind(value: Any) -> str:
    """A mapping is a conversation (`BriefTalk`); anything else is one of the words."""
    return "talk" if isinstance(value, dict | BriefTalk) else "word"


class BriefTalk(_Strict):
    """A supervisor who talks with a conversational brief: asks, then decides."""

    ask: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        [], max_length=20, description="Questions the supervisor asks, in order."
    )
    then: Literal["accept", "decline", "hangup", "silent"] = Field(
        "accept", description="What they do after the answers."
    )
    by: Literal["voice", "keypad"] = Field(
        "voice",
        description="voice: they say connect (or decline) to the briefing agent, which needs "
        "`mode: conversation`; keypad: they press the accept or decline digit.",
    )


class PhoneSpec(_Strict):
    answer: Annotated[
        float
        | Literal["busy", "no_answer", "decline", "unavailable", "request_timeout", "voicemail"],
        BeforeValidator(_answer),
    ] = Field(1.0, description="Seconds to answer, or how the call fails.")
    on_brief: Annotated[
        Annotated[Literal["accept", "decline", "hangup", "silent"], Tag("word")]
        | Annotated[BriefTalk, Tag("talk")],
        Discriminator(_reaction_kind),
    ] = Field(
        "accept",
        description="accept presses 1, decline presses 2; or a conversation: "
        "{ask: [questions], then: accept, by: voice}.",
    )
    decide_after: float = Field(
        1.0, ge=0, le=600, description="Seconds after answering before reacting to the brief."
    )
    hangup_after: float | None = Field(
        None,
        ge=0,
        le=86_400,
        description="Seconds after accepting the brief, then the supervisor hangs up (the "
        "merged call ends); none: they stay on until the call ends otherwise.",
    )

    @property
    def reaction(self) -> Literal["accept", "decline", "hangup", "silent"]:
        """What the supervisor does in the end (after any questions)."""
        return self.on_brief.then if isinstance(self.on_brief, BriefTalk) else self.on_brief

    @property
    def asks(self) -> list[str]:
        return list(self.on_brief.ask) if isinstance(self.on_brief, BriefTalk) else []

    @property
    def keypad(self) -> bool:
        """Whether the decision is a key pressed (else spoken to a conversational brief)."""
        return not isinstance(self.on_brief, BriefTalk) or self.on_brief.by == "keypad"


def _phone_key(value: Any) -> str:
    if value == "default" or (isinstance(value, str) and E164.fullmatch(value)):
        return str(value)
    raise ValueError('phone keys are "default" or quoted E.164 numbers like "+15105550100"')


class FaultSpec(_Strict):
    rpc: Annotated[str, BeforeValidator(_rpc)] = Field(
        description="Service.Method, like RoomService.MoveParticipant."
    )
    code: str | None = Field(
        None, description="A Twirp error code, like unavailable; none: only `delay` the call."
    )
    delay: float = Field(
        0.0, ge=0, le=3600, description="Simulated seconds before the call is answered."
    )
    times: int = Field(1, ge=1, le=10_000)
    message: str = Field("injected fault", max_length=200)
    lose_response: bool = Field(
        False, description="Do the work, then answer with the error (a lost response)."
    )
    sip_status_code: int | None = Field(None, ge=100, le=699)
    probe: bool = Field(
        False,
        description=(
            "Also fail the engine's preflight probes (requests naming nobody, made once per "
            "engine); by default faults hit only the transfer's own calls."
        ),
    )

    @field_validator("code")
    @classmethod
    def _known_code(cls, code: str | None) -> str | None:
        if code is not None and code not in HTTP_STATUS:
            raise ValueError("code must be a Twirp error code: " + ", ".join(HTTP_STATUS))
        return code


def _instant(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    parsed = None
    if isinstance(value, str) and "T" in value and len(value) <= 40:
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(
            "now is an ISO-8601 date and time with its UTC offset, like "
            "2026-12-05T19:02:00+00:00 or 2026-12-05T19:02:00Z"
        )
    return parsed


class Scenario(_Strict):
    caller: CallerSpec = CallerSpec()
    trunk: TrunkSpec = TrunkSpec()
    phones: dict[Annotated[str, BeforeValidator(_phone_key)], PhoneSpec] = Field(
        default_factory=lambda: {"default": PhoneSpec()}
    )
    faults: list[FaultSpec] = Field([], max_length=1000)
    speed: float = Field(1.0, gt=0, le=100_000, description="Time compression of waits.")
    now: Annotated[dt.datetime | None, BeforeValidator(_instant)] = Field(
        None,
        description="The wall time when the call starts, with its UTC offset (what "
        "open_hours steps read); default: the real time.",
    )

    def phone(self, number: str) -> PhoneSpec:
        return self.phones.get(number) or self.phones.get("default") or PhoneSpec()


def load_scenario(source: str | Path | bytes) -> Scenario:
    """Load a scenario file (or YAML text); raises FlowError with positioned problems."""
    return load_document(source, Scenario)[0]
