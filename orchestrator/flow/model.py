"""The flow language: pydantic models that are the single source of truth.

The JSON Schema editors use (`orchestrator/schema/flow.schema.json`) is generated from these
classes, and the compiler reads them. A flow is a map of named steps; each step has a `type`,
goes to `next` when it succeeds and names, under `outcomes`, where each other outcome goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from orchestrator.flow.schedule import Schedule
from orchestrator.flow.steps import TERMINAL_TYPES
from orchestrator.flow.values import (
    DisplayName,
    Dtmf,
    DtmfDigit,
    FreeText,
    HeaderMap,
    Music,
    Name,
    PhoneNumber,
    SipUri,
    Template,
    TrunkId,
    not_boolean,
)

__all__ = [
    "TERMINAL_TYPES",
    "CallbackStep",
    "CallerId",
    "Flow",
    "OpenHoursStep",
    "RingGroup",
    "Ringing",
    "Step",
    "Target",
]

Seconds = float
SipStatus = Annotated[int, Field(ge=400, le=699)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class CallerId(_Strict):
    """Which number the supervisor's phone shows when the supervisor is dialled."""

    mode: Literal["preserve", "business"] = Field(
        "business",
        description="`preserve`: show the original caller's number (their `sip.phoneNumber`), "
        "only when it is a valid E.164 number. `business`: show `business_number`, or one of "
        "the trunk's numbers. `preserve` is never the default: the carrier must allow it.",
    )
    business_number: PhoneNumber | None = Field(
        None, description="Number the business owns; default: one of the trunk's numbers."
    )
    on_rejection: Literal["business_number", "fail"] = Field(
        "business_number",
        description="When the carrier rejects the preserved caller ID (a status in "
        "`rejected_by`, or Twilio 32204/21210 and Telnyx D35 in its reason): redial exactly "
        "once with the business number, or fail the attempt with outcome "
        "`caller_id_rejected`.",
    )
    rejected_by: list[SipStatus] = Field(
        [403],
        min_length=1,
        max_length=10,
        description="SIP statuses that mean the carrier refused the caller's number while it "
        "was shown (default 403 only). Some networks answer 603 for it: add it only for "
        "them, since 603 Decline is more often a person declining the call on their phone.",
    )
    diversion: bool = Field(
        False,
        description="Add a `Diversion` header naming `business_number` when preserving, which "
        "carriers such as Telnyx require for forwarded caller IDs.",
    )

    @model_validator(mode="after")
    def _diversion_needs_number(self) -> CallerId:
        if self.diversion and self.business_number is None:
            raise ValueError("diversion needs business_number: the header names that number")
        return self


class Target(_Strict):
    """Someone to dial (a `number`) or to cold-transfer to (a `number` or a SIP/TEL `uri`)."""

    number: PhoneNumber | None = Field(None, description="E.164 number, quoted.")
    uri: SipUri | None = Field(None, description="tel:/sip:/sips: URI; cold transfers only.")
    display_name: DisplayName | None = Field(
        None, description="Caller name shown on the supervisor's phone (`display_name`)."
    )
    ring_timeout: Seconds | None = Field(
        None, ge=5, le=300, description="Seconds to ring this target; default: the step's."
    )
    dtmf: Dtmf | None = Field(None, description="Digits to send after answer; `w` = 0.5 s pause.")
    headers: HeaderMap | None = Field(None, description="Extra SIP headers: X-* or Diversion …")
    play_dialtone: bool = Field(False, description="Play a ringing tone into the consult room.")
    hide_phone_number: bool = Field(False, description="Keep the number out of attributes.")
    krisp_enabled: bool = Field(False, description="Noise cancellation on this leg (Cloud).")
    max_call_duration: int | None = Field(
        None, ge=60, le=86_400, description="Hard cap on the leg, in seconds."
    )

    @model_validator(mode="after")
    def _one_address(self) -> Target:
        if (self.number is None) == (self.uri is None):
            raise ValueError("a target needs exactly one of `number` or `uri`")
        return self


Next = Name
Budget = Annotated[
    int | None,
    Field(
        ge=1,
        le=20,
        description="How many times this step may run in one transfer; one more visit "
        "produces the outcome `exhausted`. Every loop in a flow needs such a budget.",
    ),
]


class _Outcomes(_Strict):
    """Where failure outcomes go. `failed` catches every failure not listed."""

    failed: Next | None = None
    exhausted: Next | None = None


class HoldOutcomes(_Outcomes):
    pass


class DialOutcomes(_Outcomes):
    no_answer: Next | None = None
    busy: Next | None = None
    declined: Next | None = None
    voicemail: Next | None = None
    unavailable: Next | None = None
    caller_id_rejected: Next | None = None


class BriefOutcomes(_Outcomes):
    declined: Next | None = None
    timeout: Next | None = None
    supervisor_left: Next | None = None


class MergeOutcomes(_Outcomes):
    move_failed: Next | None = None
    supervisor_left: Next | None = None


class AnnounceOutcomes(_Outcomes):
    pass


class ColdTransferOutcomes(_Outcomes):
    pass


class CallbackOutcomes(_Outcomes):
    no_number: Next | None = None


class HoldStep(_Strict):
    """Put the caller on hold: hold audio on, the AI stops listening and speaking."""

    type: Literal["hold"]
    description: FreeText | None = None
    say: Template | None = Field(None, description="Said to the caller before the hold audio.")
    music: Music = Field(
        "builtin",
        description="`builtin`, `none`, or an audio file path relative to the flow.",
    )
    max_visits: Budget = None
    next: Next
    outcomes: HoldOutcomes = HoldOutcomes()


class RingGroup(_Strict):
    """Targets rung at once: the first to answer gets the brief, the others are cancelled."""

    group: list[Name] = Field(
        min_length=2, max_length=10, description="Target names, all rung at the same time."
    )
    ring_timeout: Seconds | None = Field(
        None,
        ge=5,
        le=300,
        description="Seconds the whole group rings; default: each target's own ring_timeout, "
        "else the step's.",
    )


def _entry_kind(value: object) -> str:
    return "group" if isinstance(value, dict | RingGroup) else "name"


ChainEntry = Annotated[
    Annotated[Name, Tag("name")] | Annotated[RingGroup, Tag("group")],
    Discriminator(_entry_kind),
]
"""An entry of a dial step's `to`: a target's name, or a ring group (a mapping)."""


@dataclass(frozen=True)
class Ringing:
    """One place in a dial step's chain: one target, or a group rung together."""

    targets: tuple[str, ...]
    ring_timeout: float | None = None
    """The group's own ring time, if it sets one."""

    @property
    def together(self) -> bool:
        return len(self.targets) > 1


class DialStep(_Strict):
    """Create the consult room and dial the `to` targets in order until one answers.

    A dial step works through its chain once per transfer: coming back to it continues with
    the next untried target, and with none left the outcome is `exhausted`. An entry of
    `to` may be a ring group (`group: [a, b]`), rung at once; `ring: simultaneous` rings
    the whole list at once.
    """

    type: Literal["dial"]
    description: FreeText | None = None
    to: list[ChainEntry] = Field(
        min_length=1,
        max_length=10,
        description="Target names, in order; an entry `{group: [a, b]}` rings a and b at once.",
    )
    ring: Literal["sequential", "simultaneous"] = Field(
        "sequential",
        description="`sequential`: one entry of `to` after another. `simultaneous`: every "
        "target of `to` at once; the first to answer gets the brief, the others are cancelled.",
    )
    ring_timeout: Seconds = Field(30, ge=5, le=300, description="Seconds each target rings.")
    caller_id: CallerId | None = Field(None, description="Overrides the flow's caller_id.")
    trunk: TrunkId | None = Field(None, description="Outbound trunk; overrides the flow's.")
    max_visits: Budget = None
    next: Next
    outcomes: DialOutcomes = DialOutcomes()

    @model_validator(mode="after")
    def _groups_in_sequence(self) -> DialStep:
        if self.ring == "simultaneous" and any(isinstance(e, RingGroup) for e in self.to):
            raise ValueError(
                "ring: simultaneous already rings every target of `to` at once: list names "
                "only, or keep ring: sequential to mix groups with single targets"
            )
        return self

    def chain(self) -> tuple[Ringing, ...]:
        """The places of the chain, in order (a single target is a place of one)."""
        if self.ring == "simultaneous":
            names = tuple(e for e in self.to if isinstance(e, str))
            return (Ringing(names),)
        return tuple(
            Ringing(tuple(e.group), e.ring_timeout) if isinstance(e, RingGroup) else Ringing((e,))
            for e in self.to
        )

    def target_names(self) -> list[str]:
        """Every target of the step, in the order they are rung."""
        return [name for place in self.chain() for name in place.targets]

    def ring_time(self, place: Ringing, target: Target) -> float:
        """Seconds `target` rings at `place`: the group's, else the target's, else the step's."""
        return place.ring_timeout or target.ring_timeout or self.ring_timeout


class BriefStep(_Strict):
    """Tell the answered supervisor who is calling and why; wait for accept or decline."""

    type: Literal["brief"]
    description: FreeText | None = None
    say: Template = Field(
        description="What the supervisor hears. Placeholders: {caller_number}, {summary}, "
        "{reason}, {target}."
    )
    accept_digit: DtmfDigit = "1"
    decline_digit: DtmfDigit = "2"
    accept_by: list[Literal["dtmf", "voice"]] = Field(
        ["dtmf"],
        min_length=1,
        description="`dtmf`: keypad only (deterministic). `voice`: the worker's LLM may also "
        "take a spoken accept/decline.",
    )
    timeout: Seconds = Field(30, ge=5, le=600, description="Seconds to wait for a decision.")
    mode: Literal["template", "conversation"] = Field(
        "template",
        description="`template`: `say` is spoken, then a key (or voice) decides. "
        "`conversation`: an agent session of its own speaks with the supervisor only (it "
        "opens with `say`), answers their questions from the reason, the summary and the "
        "caller's recent turns, and accepts or declines when they say so; the keypad still "
        "decides at once, and `timeout` bounds the whole conversation.",
    )
    instructions: FreeText | None = Field(
        None,
        description="`conversation` only: what the briefing agent is told about its job, "
        "added to the call's facts (the reason, the summary, the caller's recent turns).",
    )
    max_visits: Budget = None
    next: Next
    outcomes: BriefOutcomes = BriefOutcomes()

    @model_validator(mode="after")
    def _distinct_digits(self) -> BriefStep:
        if self.accept_digit == self.decline_digit:
            raise ValueError("accept_digit and decline_digit must differ")
        return self

    @model_validator(mode="after")
    def _instructions_converse(self) -> BriefStep:
        if self.instructions is not None and self.mode != "conversation":
            raise ValueError(
                "instructions are for a conversational brief: add `mode: conversation` or "
                "remove instructions"
            )
        if self.mode == "conversation" and "voice" in self.accept_by:
            # The caller's session must never decide a supervisor's brief (agents-js #2221).
            raise ValueError(
                "a conversational brief is decided by its own session and the keypad: remove "
                "voice from accept_by"
            )
        return self


class MergeStep(_Strict):
    """Join the supervisor with the caller and end the hold."""

    type: Literal["merge"]
    description: FreeText | None = None
    timeout: Seconds = Field(10, ge=1, le=120, description="Seconds for the merge API calls.")
    max_visits: Budget = None
    next: Next
    outcomes: MergeOutcomes = MergeOutcomes()


class AnnounceStep(_Strict):
    """Say something to the caller, for example while the supervisor rings."""

    type: Literal["announce"]
    description: FreeText | None = None
    say: Template
    max_visits: Budget = None
    next: Next
    outcomes: AnnounceOutcomes = AnnounceOutcomes()


class ColdTransferStep(_Strict):
    """Hand the caller to another number by SIP REFER; the transfer ends when it succeeds."""

    type: Literal["cold_transfer"]
    description: FreeText | None = None
    to: Name = Field(description="Target name (its number or uri).")
    say: Template | None = Field(None, description="Said to the caller before the transfer.")
    play_dialtone: bool = False
    timeout: Seconds = Field(30, ge=5, le=300, description="Seconds for the REFER to complete.")
    max_visits: Budget = None
    outcomes: ColdTransferOutcomes = ColdTransferOutcomes()


class OpenHoursStep(_Strict):
    """Go to `open` if the named schedule is open now (by the transfer's clock), else to
    `closed`."""

    type: Literal["open_hours"]
    description: FreeText | None = None
    schedule: Name = Field(description="A schedule named under the flow's `schedules`.")
    open: Next = Field(description="The step run while the schedule is open.")
    closed: Next = Field(description="The step run while it is closed (closures included).")


class CallbackStep(_Strict):
    """Promise the caller a call back: say so, record the callback in the transfer's
    outcome (`callback`), then `next`: a return_to_agent or hangup step. Calling back is
    the application's work (docs/business-hours.md)."""

    type: Literal["callback"]
    description: FreeText | None = None
    say: Template = Field(description='What the caller hears, like "We will call you back."')
    number: PhoneNumber | None = Field(
        None,
        description="The number to call back; default: the caller's number (outcome "
        "`no_number` when it is withheld or not E.164).",
    )
    schedule: Name | None = Field(
        None,
        description="A schedule of the flow's `schedules`: the outcome's callback says when "
        "it next opens (`not_before`), for the application to call back then.",
    )
    max_visits: Budget = None
    next: Next = Field(description="A return_to_agent or hangup step.")
    outcomes: CallbackOutcomes = CallbackOutcomes()


class ExitStep(_Strict):
    """After a merge: the AI leaves, the consult room is deleted. Outcome `merged`."""

    type: Literal["exit"]
    description: FreeText | None = None


class ReturnToAgentStep(_Strict):
    """Take the caller off hold and give the call back to the AI. Outcome `returned`."""

    type: Literal["return_to_agent"]
    description: FreeText | None = None
    say: Template | None = Field(None, description="What the AI says first, word for word.")


class HangupStep(_Strict):
    """End the call for everyone. Outcome `hung_up`."""

    type: Literal["hangup"]
    description: FreeText | None = None
    say: Template | None = Field(None, description="Said to the caller before hanging up.")


Step = Annotated[
    HoldStep
    | DialStep
    | BriefStep
    | MergeStep
    | AnnounceStep
    | ColdTransferStep
    | OpenHoursStep
    | CallbackStep
    | ExitStep
    | ReturnToAgentStep
    | HangupStep,
    Field(discriminator="type"),
]


class Flow(_Strict):
    """A transfer flow: named targets and named steps, run from `start`."""

    model_config = ConfigDict(
        title="Transfer flow", json_schema_extra={"additionalProperties": False}
    )

    version: Annotated[Literal[1], BeforeValidator(not_boolean)] = Field(
        1, description="Flow language version."
    )
    name: Name = Field(description="Flow name, shown in logs as `flow`.")
    description: FreeText | None = None
    start: Name | None = Field(None, description="First step; default: the first one listed.")
    max_hold: Seconds = Field(
        120, ge=10, le=3600, description="Seconds the caller may be on hold, in total."
    )
    on_max_hold: Name | None = Field(
        None, description="Step run when max_hold expires; default: `fallback`."
    )
    fallback: Name | None = Field(
        None, description="Where every failure outcome that no step handles goes."
    )
    caller_id: CallerId = CallerId()
    merge_strategy: Literal["auto", "move", "in_room"] = Field(
        "auto",
        description=(
            "How the supervisor joins the caller: `move` (MoveParticipant, LiveKit Cloud "
            "only), `in_room` (dialled into the caller's room with audio kept apart until "
            "they accept; works on self-hosted LiveKit), or `auto` (move where the server "
            "has it, in_room otherwise; decided before the caller is held)."
        ),
    )
    trunk: TrunkId | None = Field(
        None, description="Outbound SIP trunk id; default: LIVEKIT_SIP_OUTBOUND_TRUNK."
    )
    targets: dict[Name, Target] = Field({}, max_length=100)
    schedules: dict[Name, Schedule] = Field(
        {}, max_length=50, description="Business hours that open_hours steps name."
    )
    steps: dict[Name, Step] = Field(min_length=1, max_length=1000)

    @property
    def first_step(self) -> str:
        return self.start or next(iter(self.steps))
