"""Semantic checks a schema cannot express: references, reachability, loops, phase order.

Each check returns positioned problems; all of them run, so a designer sees every mistake in
one pass. The phase check walks the flow abstractly, tracking whether the caller is on hold
and what the supervisor leg is doing, so that a flow which could brief nobody, dial a second
supervisor over a live one, or leave the caller on hold after `max_hold` never loads.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable

from orchestrator.errors import Problem
from orchestrator.flow.model import TERMINAL_TYPES, Flow, Step
from orchestrator.flow.outcomes import BUILTIN_STATES, EVENTS, is_budgeted, resolve, successor
from orchestrator.flow.schedule import MAX_CLOSED_DAYS, closed_too_long
from orchestrator.flow.values import RESERVED_NAMES

__all__ = ["check_flow"]

Path = tuple[str | int, ...]
Locate = Callable[[Path, bool], tuple[int, int]]
Edges = dict[str, dict[str, str]]


# difflib is quadratic in name length: hints are bounded so a hostile file stays cheap.
_HINT_CANDIDATES = 25
_HINTS = 10


class _Checker:
    def __init__(self, flow: Flow, locate: Locate) -> None:
        self.flow = flow
        self.locate = locate
        self.problems: list[Problem] = []
        self.hints_left = _HINTS

    def hint(self, name: str, choices: Iterable[str]) -> str:
        """A "did you mean" suffix for the first few unknown names."""
        if self.hints_left <= 0:
            return ""
        self.hints_left -= 1
        pool = [c for c in choices if abs(len(c) - len(name)) <= 3][:_HINT_CANDIDATES]
        close = difflib.get_close_matches(name, pool, n=1)
        return f" (did you mean '{close[0]}'?)" if close else ""

    def add(self, path: Path, message: str, *, key: bool = False) -> None:
        line, column = self.locate(path, key)
        self.problems.append(Problem(line, column, message))

    def step_ref(self, path: Path, name: str | None) -> bool:
        if name is None or name in self.flow.steps:
            return True
        label = ".".join(str(part) for part in path)
        self.add(path, f"{label}: unknown step '{name}'{self.hint(name, self.flow.steps)}")
        return False

    # -- references ---------------------------------------------------------------------

    def names(self) -> None:
        taken = RESERVED_NAMES | EVENTS | set(BUILTIN_STATES)
        for name in self.flow.steps:
            if name in taken:
                self.add(
                    ("steps", name),
                    f"step name '{name}' is reserved by the state machine; rename the step "
                    f"(for example '{name}_step')",
                    key=True,
                )

    def references(self) -> None:
        flow = self.flow
        for key in ("start", "fallback", "on_max_hold"):
            self.step_ref((key,), getattr(flow, key))
        for name, step in flow.steps.items():
            base: Path = ("steps", name)
            if (nxt := getattr(step, "next", None)) is not None:
                self.step_ref((*base, "next"), nxt)
            if step.type == "open_hours":
                self.step_ref((*base, "open"), step.open)
                self.step_ref((*base, "closed"), step.closed)
                self.schedule_ref((*base, "schedule"), step.schedule)
                if step.open == step.closed:
                    label = ".".join(str(part) for part in base)
                    self.add(
                        (*base, "closed"),
                        f"{label}: open and closed both go to '{step.open}', so the schedule "
                        "decides nothing; send closed to another step (like a callback), or "
                        f"remove the step and go to '{step.open}' directly",
                    )
            if step.type == "callback":
                self.callback_next(base, step.next)
                if step.schedule is not None:
                    self.schedule_ref((*base, "schedule"), step.schedule)
            outcomes = getattr(step, "outcomes", None)
            for outcome, target in outcomes or {}:
                self.step_ref((*base, "outcomes", outcome), target)
            if outcomes is not None and outcomes.exhausted and not is_budgeted(step):
                self.add(
                    (*base, "outcomes", "exhausted"),
                    "outcome 'exhausted' only happens on dial steps and steps with max_visits",
                    key=True,
                )
            self.targets(base, step)

    def schedule_ref(self, path: Path, name: str) -> None:
        known = self.flow.schedules
        if name not in known:
            label = ".".join(str(part) for part in path)
            where = f"; its schedules: {', '.join(known)}" if known else ""
            self.add(
                path,
                f"{label}: unknown schedule '{name}'{self.hint(name, known)}; define it "
                f"under schedules{where}",
            )

    def schedules(self) -> None:
        """A schedule's closures, back to back, must not keep it shut: past a year it is
        no schedule, and a callback's `not_before` would have no opening to give."""
        for name, schedule in self.flow.schedules.items():
            found = closed_too_long(schedule)
            if found is not None:
                index, first, last = found
                self.add(
                    ("schedules", name, "closures", index),
                    f"schedules.{name}.closures: the closures from {first} close it "
                    f"{(last - first).days + 1} days in a row, to {last}; at most "
                    f"{MAX_CLOSED_DAYS} (longer, it is shut, not on holiday, and may never "
                    "open again): shorten or remove those closures",
                )

    def callback_next(self, base: Path, name: str) -> None:
        """A callback is a promise the transfer ends with: the AI takes the call back, or
        the call ends; anything else would ring a supervisor after promising a callback."""
        step = self.flow.steps.get(name)
        if step is not None and step.type not in ("return_to_agent", "hangup"):
            label = ".".join(str(part) for part in base)
            self.add(
                (*base, "next"),
                f"{label}.next: a callback step ends the transfer, so its next must be a "
                f"return_to_agent or hangup step; '{name}' is a step of type {step.type}",
            )

    def templates(self) -> None:
        """`{target}` names the supervisor or transfer target; only some steps have one."""
        for name, step in self.flow.steps.items():
            say = getattr(step, "say", None)
            if say and "{target}" in say and step.type not in ("brief", "cold_transfer"):
                self.add(
                    ("steps", name, "say"),
                    f"steps.{name}.say: {{target}} is only known in brief and cold_transfer steps",
                )

    def targets(self, base: Path, step: Step) -> None:
        known = self.flow.targets
        wanted: list[tuple[Path, str]] = []
        if step.type == "dial":
            for index, entry in enumerate(step.to):
                if isinstance(entry, str):
                    wanted.append(((*base, "to", index), entry))
                else:  # a ring group: its names, each where it is written
                    wanted += [
                        ((*base, "to", index, "group", i), n) for i, n in enumerate(entry.group)
                    ]
        elif step.type == "cold_transfer":
            wanted.append(((*base, "to"), step.to))
        for path, name in wanted:
            if name not in known:
                self.add(
                    path,
                    f"unknown target '{name}'{self.hint(name, known)}; define it under targets",
                )
            elif step.type == "dial" and known[name].number is None:
                self.add(
                    path, f"target '{name}' has a uri; a dial step needs a target with a number"
                )
        if step.type == "dial" and len(set(names := step.target_names())) != len(names):
            self.add((*base, "to"), "a target is listed twice in the chain")

    # -- graph --------------------------------------------------------------------------

    def edges(self) -> Edges:
        """Resolved transitions between steps; reports failure outcomes nobody handles."""
        edges: Edges = {}
        for name, step in self.flow.steps.items():
            out: dict[str, str] = {}
            success = successor(step)
            if success and success[1] in self.flow.steps:
                out[success[0]] = success[1]
            unhandled = []
            for outcome, target in resolve(self.flow, step).items():
                if target is None:
                    unhandled.append(outcome)
                elif target in self.flow.steps:
                    out[outcome] = target
            if unhandled:
                self.add(
                    ("steps", name, "type"),
                    f"step '{name}' does not say where outcome(s) {', '.join(unhandled)} go; "
                    "add them under outcomes, or outcomes.failed for all, or a flow-level "
                    "fallback",
                )
            edges[name] = out
        return edges

    def max_hold_target(self) -> str | None:
        target = self.flow.on_max_hold or self.flow.fallback
        holds = any(step.type == "hold" for step in self.flow.steps.values())
        if target is None and holds:
            self.add(
                ("max_hold",),
                "set on_max_hold (or fallback): where the caller goes when max_hold expires",
            )
        return target if target in self.flow.steps else None

    def reachability(self, edges: Edges, max_hold: str | None) -> None:
        flow = self.flow
        seen = _reach(edges, [flow.first_step, *([max_hold] if max_hold else [])])
        for name in flow.steps:
            if name not in seen:
                self.add(
                    ("steps", name),
                    f"step '{name}' is unreachable from '{flow.first_step}'",
                    key=True,
                )
        ends = [n for n, s in flow.steps.items() if s.type in TERMINAL_TYPES | {"cold_transfer"}]
        if not ends:
            self.add(
                ("steps",),
                "the flow has no terminal step (exit, return_to_agent, hangup or cold_transfer)",
                key=True,
            )
            return
        backwards: Edges = {name: {} for name in flow.steps}
        for source, out in edges.items():
            for event, target in out.items():
                backwards[target][f"{source}.{event}"] = source
        can_end = _reach(backwards, ends)
        for name in flow.steps:
            if name in seen and name not in can_end:
                self.add(
                    ("steps", name), f"no path from step '{name}' ever ends the transfer", key=True
                )

    def loops(self, edges: Edges) -> None:
        steps = self.flow.steps
        for component in _cycles(edges):
            unbudgeted = {
                n: {t for t in edges[n].values() if t in component}
                for n in component
                if not is_budgeted(steps[n])
            }
            if any(_cycles(unbudgeted)):
                loop = " -> ".join(sorted(component))
                self.add(
                    ("steps", min(component, key=list(steps).index)),
                    f"the loop through {loop} has no budget; set max_visits on one of its steps",
                    key=True,
                )
            for name in component:
                exit_to = edges[name].get("exhausted")
                if is_budgeted(steps[name]) and exit_to and name in _reach(edges, [exit_to]):
                    self.add(
                        ("steps", name, "outcomes"),
                        f"outcome 'exhausted' of '{name}' leads back into its loop; "
                        "send it out of the loop",
                        key=True,
                    )

    def phases(self, edges: Edges, max_hold: str | None) -> None:
        """Walk (on hold?, supervisor leg) states; report steps that run at the wrong time."""
        steps = self.flow.steps
        seen: set[tuple[str, bool, str]] = set()
        todo = [(self.flow.first_step, False, "none")]
        if max_hold:
            todo.append((max_hold, False, "none"))
            for name in _reach(edges, [max_hold]):
                if steps[name].type in ("hold", "dial", "brief", "merge"):
                    self.add(
                        ("on_max_hold",),
                        f"after max_hold the flow can still reach '{name}'; "
                        "the caller must leave hold for good",
                    )
                    break
        reported: set[str] = set()
        while todo:
            name, held, leg = todo.pop()
            if (name, held, leg) in seen or name not in steps:
                continue
            seen.add((name, held, leg))
            step = steps[name]
            fault = _phase_fault(step, held, leg)
            if fault and name not in reported:
                reported.add(name)
                self.add(("steps", name, "type"), f"step '{name}' {fault}")
            for event, target in edges[name].items():
                todo.append((target, *_after(step.type, event, held, leg)))


def _phase_fault(step: Step, held: bool, leg: str) -> str | None:
    kind = step.type
    if kind == "dial" and not held:
        return "dials while the caller is not on hold; put a hold step before it"
    if kind == "dial" and leg != "none":
        return "can dial while another supervisor is still on the line"
    if kind in ("brief", "merge") and leg != "connected":
        return "can run with no answered supervisor; put it after a dial step's next"
    if kind == "exit" and leg != "merged":
        return "can run before a merge; the AI may only leave after a merge step's next"
    if leg == "merged" and kind != "exit":
        return "runs after a merge; a merge step's next must be an exit step"
    if leg == "connected" and kind in ("return_to_agent", "hangup", "cold_transfer", "callback"):
        return (
            "can run while an answered supervisor waits on the line; brief and merge them, "
            "or send the flow here from a failure outcome"
        )
    return None


def _after(kind: str, event: str, held: bool, leg: str) -> tuple[bool, str]:
    if kind == "hold" and event == "held":
        return True, leg
    if kind == "dial":
        return held, "connected" if event == "answered" else "none"
    if kind == "brief":
        return held, "connected" if event == "accepted" else "none"
    if kind == "merge":
        return (False, "merged") if event == "merged" else (held, "none")
    return held, leg


def _reach(edges: Edges, starts: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = [s for s in starts if s in edges]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(edges[node].values())
    return seen


def _cycles(edges: dict[str, set[str]] | Edges) -> list[set[str]]:
    """Strongly connected components that contain a cycle (Tarjan, iterative)."""
    succ = {n: set(v.values()) if isinstance(v, dict) else set(v) for n, v in edges.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in succ:
        if root in index:
            continue
        work = [(root, iter(sorted(succ[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in succ:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(succ[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in succ[node]:
                    found.append(component)
    return found


def check_flow(flow: Flow, locate: Locate) -> list[Problem]:
    """Every semantic problem of a schema-valid flow; empty when the flow is sound."""
    checker = _Checker(flow, locate)
    checker.names()
    checker.references()
    checker.schedules()
    checker.templates()
    if checker.problems:  # graph checks on broken references only repeat the same mistakes
        return checker.problems
    edges = checker.edges()
    max_hold = checker.max_hold_target()
    checker.reachability(edges, max_hold)
    checker.loops(edges)
    checker.phases(edges, max_hold)
    return checker.problems
