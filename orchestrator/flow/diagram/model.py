"""The picture of a flow as data: nodes and edges read from the engine's own routing.

Every step-to-step edge comes from `compiled(flow).table`, the table the
engine looks events up in, so the picture cannot route differently from a transfer. On top
of it, a dial step is drawn as the chain the engine works through (`engine/dial.dial`):
its targets in order, the next target after busy, no answer, decline, voicemail or an
unavailable line, the one caller-ID redial, and only once the chain is used up the last
attempt's result leaves the step. Nothing here renders; `render` turns a `Diagram` into text.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

from orchestrator.flow.compiler import compiled
from orchestrator.flow.model import (
    AnnounceStep,
    BriefStep,
    CallbackStep,
    CallerId,
    ColdTransferStep,
    DialStep,
    Flow,
    HangupStep,
    HoldStep,
    MergeStep,
    OpenHoursStep,
    ReturnToAgentStep,
    Ringing,
    Step,
)

__all__ = ["Diagram", "Edge", "Node", "build_diagram", "diagram_edges", "shorten"]

NodeKind = Literal["step", "target", "ending", "internal", "marker"]

# Engine states a designer does not act on, and events that leave (nearly) every step: drawn
# one by one only with `internal`; otherwise the two events are summed up by one marker each.
INTERNAL_STATES = frozenset({"requested", "aborted"})
SUMMED_EVENTS = frozenset({"start", "abort", "caller_hangup", "max_hold"})
# The results after which `engine.dial` goes on with the next target of the chain.
_CHAIN_GOES_ON = ("busy", "no_answer", "declined", "voicemail", "unavailable")
_SAY_CHARS = 40
MARKER = "marker:"
"""Starts the id of a marker node; no step or target can have it (names are `[a-z0-9_]`)."""
_OUTCOME_OF = {"exit": "merged", "return_to_agent": "returned", "hangup": "hung_up"}


@dataclass(frozen=True)
class Node:
    id: str
    """The state name for steps and engine states; `STEP/N` for a dial step's Nth target;
    `marker:WHAT` for the start and the hang-up and hold-limit markers."""
    name: str
    kind: NodeKind
    type: str
    details: tuple[str, ...] = ()
    chain: str | None = None
    """For a dial step and its targets: the dial step, drawn as one group."""
    final: bool = False


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    events: tuple[str, ...]
    step: str | None
    """The engine state whose transitions this edge draws; None for a move inside a dial
    chain, or from a marker."""
    note: str = ""
    dashed: bool = False

    @property
    def label(self) -> str:
        words = ", ".join(self.events)
        return f"{words}: {self.note}" if words and self.note else words or self.note


@dataclass(frozen=True)
class Diagram:
    name: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def shorten(text: str, limit: int = _SAY_CHARS) -> str:
    """One line of at most `limit` characters, an ellipsis marking a cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _said(text: str | None) -> tuple[str, ...]:
    return (f'says "{shorten(text)}"',) if text else ()


def _budget(step: Step) -> tuple[str, ...]:
    visits = getattr(step, "max_visits", None)
    return (f"at most {visits} visits, then exhausted",) if visits else ()


def _caller_id(policy: CallerId) -> tuple[str, ...]:
    business = policy.business_number or "a number of the trunk"
    if policy.mode == "business":
        return (f"caller ID: {business}",)
    lines = ["caller ID: the caller's number", f"({business} if the caller's is withheld)"]
    if policy.diversion:
        lines.append("with a Diversion header")
    if policy.on_rejection == "fail":
        statuses = ", ".join(str(status) for status in policy.rejected_by)
        lines.append(f"refused (SIP {statuses}): that attempt fails")
    return tuple(lines)


def _schedule(flow: Flow, name: str) -> tuple[str, ...]:
    schedule = flow.schedules[name]
    hours = [f"{days} {', '.join(ranges)}" for days, ranges in schedule.hours.items() if ranges]
    closures = schedule.closures
    listed = ", ".join(closures) if len(closures) <= 3 else f"{len(closures)} dates"
    shut = (f"closed {listed}",) if closures else ()
    return (f"schedule {name} ({schedule.timezone})", *hours, *shut)


def _step_details(flow: Flow, step: Step) -> tuple[str, ...]:
    if isinstance(step, HoldStep):
        music = {"builtin": "built-in music", "none": "no music"}.get(step.music, step.music)
        return (*_said(step.say), f"hold: {music}", *_budget(step))
    if isinstance(step, BriefStep):
        voice = " or by voice" if "voice" in step.accept_by else ""
        decide = f"{step.accept_digit} accepts, {step.decline_digit} declines{voice}"
        if step.mode == "conversation":
            voice = ", the supervisor asks and decides by voice or key"
            decide = f"conversation: {step.accept_digit} accepts, {step.decline_digit} declines"
            return (
                *_said(step.say),
                decide + voice,
                f"decide within {step.timeout:g} s",
                *_budget(step),
            )
        return (*_said(step.say), decide, f"decide within {step.timeout:g} s", *_budget(step))
    if isinstance(step, MergeStep):
        return ("supervisor joins the caller", *_budget(step))
    if isinstance(step, AnnounceStep):
        return (*_said(step.say), *_budget(step))
    if isinstance(step, ColdTransferStep):
        return (f"to {step.to}", *_said(step.say), f"within {step.timeout:g} s", *_budget(step))
    if isinstance(step, OpenHoursStep):
        return _schedule(flow, step.schedule)
    if isinstance(step, CallbackStep):
        to = step.number or "the caller's number"
        when = (f"when {step.schedule} opens",) if step.schedule else ()
        return (*_said(step.say), f"promises a callback to {to}", *when, *_budget(step))
    if isinstance(step, ReturnToAgentStep | HangupStep):
        return (*_said(step.say), f"outcome {_OUTCOME_OF[step.type]}")
    return ("the AI leaves", f"outcome {_OUTCOME_OF[step.type]}")


def _dial(flow: Flow, name: str, step: DialStep) -> tuple[Node, ...]:
    policy = step.caller_id or flow.caller_id
    head = Node(
        name,
        name,
        "step",
        "dial",
        (*_caller_id(policy), "a new visit goes on with the next target", *_budget(step)),
        chain=name,
    )
    targets = tuple(
        Node(
            f"{name}/{index}",
            " + ".join(place.targets),
            "target",
            "target",
            _place_details(flow, step, place, index),
            chain=name,
        )
        for index, place in enumerate(step.chain(), start=1)
    )
    return (head, *targets)


def _place_details(flow: Flow, step: DialStep, place: Ringing, index: int) -> tuple[str, ...]:
    """A target of the chain with its ring time; a ring group as rung together."""
    rings = [step.ring_time(place, flow.targets[target]) for target in place.targets]
    if not place.together:
        return (f"{index}. {place.targets[0]}", f"rings {rings[0]:g} s")
    same = len(set(rings)) == 1
    time = f"{rings[0]:g} s" if same else f"up to {max(rings):g} s"
    return (
        f"{index}. rung together: {', '.join(place.targets)}",
        f"ring {time}; the first to answer is kept",
    )


def _dial_edges(
    flow: Flow, name: str, step: DialStep, table: dict[str, str], internal: bool
) -> list[Edge]:
    policy = step.caller_id or flow.caller_id
    ids = [f"{name}/{index}" for index in range(1, len(step.chain()) + 1)]
    redial = policy.mode == "preserve" and policy.on_rejection == "business_number"
    refused = "" if policy.mode == "business" or redial else "caller_id_rejected"
    goes_on = tuple(e for e in (*_CHAIN_GOES_ON, refused) if e)
    edges = [Edge(name, ids[0], (), None, "first target not tried yet")]
    for here, there in pairwise(ids):
        edges.append(Edge(here, there, goes_on, None, "next target"))
    if redial:
        statuses = ", ".join(str(status) for status in policy.rejected_by)
        business = policy.business_number or "a number of the trunk"
        note = f"refused with SIP {statuses}, redial once showing {business}"
        edges.extend(Edge(node, node, ("caller_id_rejected",), None, note) for node in ids)
    success = table.get("answered")
    if success:
        edges.extend(Edge(node, success, ("answered",), name) for node in ids)
    # The last attempt's result is the step's outcome; `failed` (a number that does not
    # exist, an API error) stops the chain at any target; `exhausted` is a visit that finds
    # no target left.
    last: dict[str, list[str]] = {}
    whole: dict[str, list[str]] = {}
    for event, target in table.items():
        if event == "answered" or (event in SUMMED_EVENTS and not internal):
            continue
        group = whole if event in ("failed", "exhausted", *SUMMED_EVENTS) else last
        group.setdefault(target, []).append(event)
    edges.extend(Edge(ids[-1], target, tuple(events), name) for target, events in last.items())
    edges.extend(Edge(name, target, tuple(events), name) for target, events in whole.items())
    return edges


def build_diagram(flow: Flow, *, internal: bool = False) -> Diagram:
    """The nodes and edges of a flow's picture (engine-internal states with `internal`)."""
    table = compiled(flow).table
    nodes: list[Node] = []
    edges: list[Edge] = []
    if internal:
        nodes.append(Node("requested", "requested", "internal", "engine state"))
    else:
        nodes.append(Node(f"{MARKER}start", "start", "marker", ""))
        edges.append(Edge(f"{MARKER}start", flow.first_step, (), None))
    for name, step in flow.steps.items():
        row = table[name]
        if isinstance(step, DialStep):
            nodes.extend(_dial(flow, name, step))
            edges.extend(_dial_edges(flow, name, step, row, internal))
            continue
        final = not row
        nodes.append(Node(name, name, "step", step.type, _step_details(flow, step), final=final))
        grouped: dict[str, list[str]] = {}
        for event, target in row.items():
            if internal or event not in SUMMED_EVENTS:
                grouped.setdefault(target, []).append(event)
        # A route's two ways are labelled with the schedule they read.
        note = step.schedule if isinstance(step, OpenHoursStep) else ""
        edges.extend(
            Edge(name, target, tuple(events), name, note) for target, events in grouped.items()
        )
    if "cold_transferred" in table:
        nodes.append(
            Node(
                "cold_transferred",
                "cold_transferred",
                "ending",
                "ending",
                ("outcome cold_transferred",),
                final=True,
            )
        )
    nodes.append(
        Node(
            "caller_hung_up",
            "caller_hung_up",
            "ending",
            "ending",
            ("outcome caller_hung_up",),
            final=True,
        )
    )
    if internal:
        nodes.append(
            Node("aborted", "aborted", "internal", "engine state", ("outcome failed",), final=True)
        )
        for event, target in table["requested"].items():
            edges.append(Edge("requested", target, (event,), "requested"))
    else:
        edges.extend(_markers(flow, table, nodes))
    return Diagram(flow.name, tuple(nodes), tuple(edges))


def _markers(flow: Flow, table: dict[str, dict[str, str]], nodes: list[Node]) -> list[Edge]:
    """One marker each for the caller hanging up and the hold limit, instead of an edge from
    every step."""
    hangs_up, limit = f"{MARKER}caller_hangs_up", f"{MARKER}hold_limit"
    nodes.append(Node(hangs_up, "caller hangs up", "marker", "at any step"))
    edges = [Edge(hangs_up, "caller_hung_up", ("caller_hangup",), None, dashed=True)]
    limits = {row["max_hold"] for row in table.values() if "max_hold" in row}
    for target in sorted(limits):
        nodes.append(Node(limit, "hold limit", "marker", f"{flow.max_hold:g} s on hold in total"))
        edges.append(Edge(limit, target, ("max_hold",), None, dashed=True))
    return edges


def diagram_edges(flow: Flow, *, internal: bool = False) -> frozenset[tuple[str, str, str]]:
    """Every engine transition the picture draws, as (state, event, next state)."""
    diagram = build_diagram(flow, internal=internal)
    return frozenset(
        (edge.step, event, edge.target)
        for edge in diagram.edges
        if edge.step is not None
        for event in edge.events
    )
