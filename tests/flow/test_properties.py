"""Property-based tests: no input crashes the loader, and what loads always compiles and runs."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from orchestrator import FlowError, compile_flow, load_flow
from orchestrator.flow.reader import ReadError, read_yaml
from tests.conftest import FLOWS

SHIPPED = [read_yaml(path.read_bytes()).data for path in FLOWS]
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.binary(max_size=2048))
def test_reader_only_raises_read_error_on_any_bytes(raw: bytes) -> None:
    try:
        read_yaml(raw)
    except ReadError as exc:
        problem = exc.problem
    else:
        return
    assert problem.line >= 1
    assert problem.column >= 1


@FAST
@given(st.text(alphabet=st.sampled_from(list("ab:- \n\t[]{}&*!|>'\"#,?%@`1+.e")), max_size=300))
def test_loader_only_raises_flow_error_on_yaml_like_text(text: str) -> None:
    try:
        load_flow(text.encode())
    except FlowError as exc:
        problems = exc.problems
    else:
        return
    assert problems
    assert all(p.line >= 1 and p.column >= 1 for p in problems)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["hold", "dial", "exit", "return_to_agent", "+15105550100", "x", "failed"]),
    st.text(max_size=20),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def mutated_flows(draw: st.DrawFn) -> Any:
    data = copy.deepcopy(draw(st.sampled_from(SHIPPED)))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(SCALARS)
    return data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_flows())
def test_mutated_flows_either_fail_cleanly_or_compile(data: Any) -> None:
    """Our checks are at least as strict as the state machine library's own."""
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    try:
        flow = load_flow(text.encode())
    except FlowError as exc:
        problems = exc.problems
    else:
        machine = compile_flow(flow)()
        assert not machine.is_terminated
        return
    assert problems


EVENTS = st.sampled_from(
    [
        "start",
        "held",
        "answered",
        "accepted",
        "merged",
        "done",
        "transferred",
        "no_answer",
        "busy",
        "declined",
        "timeout",
        "supervisor_left",
        "move_failed",
        "failed",
        "exhausted",
        "max_hold",
        "abort",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FLOWS), st.lists(EVENTS, max_size=12))
def test_any_event_order_ends_in_caller_hung_up_on_hangup(path: Any, events: list[str]) -> None:
    """Whatever happened before, a caller hang-up always ends the transfer, exactly once."""
    machine = compile_flow(load_flow(path))()
    for event in events:
        machine.send(event)
        assert len(machine.configuration_values) == 1
    if machine.is_terminated:
        return
    machine.send("caller_hangup")
    assert machine.is_terminated
    assert list(machine.configuration_values) == ["caller_hung_up"]
