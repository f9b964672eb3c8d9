"""The spans of a transfer: one trace from the tool call through the steps, dials and API
calls, with no raw number, token or secret anywhere."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from orchestrator import load_flow
from orchestrator.clock import ManualClock
from orchestrator.sandbox import Scenario
from orchestrator.simulate import simulate
from tests.engine.conftest import ROOT
from tests.reliability.harness import CALLER, SECRET, canary_hits
from tests.telemetry.conftest import Recorded, transfer

MERGED = {"phones": {"default": {"answer": 2.0, "decide_after": 1.0}}}


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    own = [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]
    return sorted(own, key=lambda s: s.start_time or 0)


async def test_a_transfer_is_a_child_of_the_tool_call_with_its_steps_in_order(
    recorded: Recorded,
) -> None:
    result = await transfer(recorded, MERGED)
    assert result.outcome.kind == "merged"
    spans = recorded.finished()
    tool = _one(spans, "function_tool")
    root = _one(spans, "warm_transfer")
    assert root.parent is not None
    assert tool.context is not None
    assert root.parent.span_id == tool.context.span_id
    assert root.context is not None
    assert root.context.trace_id == tool.context.trace_id
    attributes = dict(root.attributes or {})
    assert attributes["transfer.flow"] == "warm_transfer"
    assert attributes["transfer.id"]
    assert attributes["transfer.flow_version"]
    assert attributes["transfer.outcome"] == "merged"
    assert attributes["transfer.reason"] == ""
    assert attributes["transfer.attempts"] == 1
    assert attributes["transfer.hold_seconds"] == result.outcome.hold_seconds > 0
    assert root.status.status_code is not StatusCode.ERROR

    steps = [s for s in _children(spans, root) if s.name.startswith("step ")]
    assert [s.name for s in steps] == [
        "step hold_caller",
        "step dial_supervisor",
        "step brief_supervisor",
        "step merge_call",
        "step agent_leaves",
    ]
    got = [(s.attributes or {}).get("transfer.step.outcome") for s in steps]
    assert got == ["held", "answered", "accepted", "merged", None]
    assert [(s.attributes or {})["transfer.step.type"] for s in steps] == [
        "hold",
        "dial",
        "brief",
        "merge",
        "exit",
    ]


async def test_a_dial_span_names_its_target_caller_id_and_sip_status(
    recorded: Recorded,
) -> None:
    await transfer(recorded, {"phones": {"default": {"answer": "busy"}}})
    spans = recorded.finished()
    step = _one(spans, "step dial_supervisor")
    dial = _one(spans, "dial on_call_supervisor")
    assert dial.parent is not None
    assert step.context is not None
    assert dial.parent.span_id == step.context.span_id
    assert dict(dial.attributes or {}) == {
        "transfer.target": "on_call_supervisor",
        "transfer.caller_id": "caller",
        "sip.status_code": 486,
        "transfer.attempt.result": "busy",
    }
    (call,) = _children(spans, dial)
    assert call.name == "livekit.SIP/CreateSIPParticipant"
    assert call.kind is SpanKind.CLIENT
    assert dict(call.attributes or {}) == {
        "rpc.system": "twirp",
        "rpc.service": "livekit.SIP",
        "rpc.method": "CreateSIPParticipant",
        "rpc.response.status_code": (call.attributes or {})["rpc.response.status_code"],
        "sip.status_code": 486,
    }
    assert call.attributes is not None
    assert call.attributes["rpc.response.status_code"] != "ok"
    assert call.status.status_code is StatusCode.ERROR
    root = _one(spans, "warm_transfer")
    assert (root.attributes or {})["transfer.outcome"] == "returned"
    assert (root.attributes or {})["transfer.reason"] == "busy"


async def test_a_caller_id_fallback_is_two_dial_spans(recorded: Recorded) -> None:
    scenario = {"trunk": {"caller_id_policy": "owned_only"}, **MERGED}
    await transfer(recorded, scenario)
    dials = [s for s in recorded.finished() if s.name == "dial on_call_supervisor"]
    dials.sort(key=lambda s: s.start_time or 0)
    assert [(s.attributes or {})["transfer.caller_id"] for s in dials] == ["caller", "business"]
    assert [(s.attributes or {})["transfer.attempt.result"] for s in dials] == [
        "caller_id_rejected",
        "answered",
    ]
    assert (dials[0].attributes or {})["sip.status_code"] == 403
    assert "sip.status_code" not in (dials[1].attributes or {})


async def test_every_livekit_call_is_a_client_span_with_rpc_attributes(
    recorded: Recorded,
) -> None:
    result = await transfer(recorded, MERGED)
    spans = recorded.finished()
    tool = _one(spans, "function_tool")
    assert tool.context is not None
    calls = [s for s in spans if s.name.startswith("livekit.")]
    # One span per request the sandbox received from the engine.
    assert len(calls) == len(result.requests)
    rpcs = sorted(f"livekit.{r['rpc'].replace('.', '/')}" for r in result.requests)
    assert sorted(s.name for s in calls) == rpcs
    for span in calls:
        attributes = span.attributes or {}
        service, method = span.name.removeprefix("livekit.").split("/")
        assert attributes["rpc.system"] == "twirp"
        assert attributes["rpc.service"] == f"livekit.{service}"
        assert attributes["rpc.method"] == method
        assert span.kind is SpanKind.CLIENT
        assert span.parent is not None  # the tool call, the transfer, a step or a dial
        if attributes["rpc.response.status_code"] != "ok":  # only the probes before the start
            assert span.status.status_code is StatusCode.ERROR
            assert span.parent.span_id == tool.context.span_id
        assert span.start_time is not None
        assert span.end_time is not None
        assert span.start_time <= span.end_time
    root = _one(spans, "warm_transfer")
    (moved,) = [  # the probe's MoveParticipant, refused, is the tool call's
        s
        for s in calls
        if s.name == "livekit.RoomService/MoveParticipant"
        and (s.attributes or {})["rpc.response.status_code"] == "ok"
    ]
    merge = _one(spans, "step merge_call")
    assert moved.parent is not None
    assert merge.context is not None
    assert moved.parent.span_id == merge.context.span_id
    assert root.context is not None
    assert {s.context.trace_id for s in calls if s.context} == {root.context.trace_id}


async def test_no_raw_number_token_or_secret_in_spans_or_metrics(recorded: Recorded) -> None:
    tracer = recorded.provider.get_tracer("test")
    with tracer.start_as_current_span("function_tool"):
        await simulate(
            load_flow(ROOT / "flows" / "supervisor_chain.yaml"),
            Scenario.model_validate(
                {"phones": {"default": {"answer": 1.0, "on_brief": "decline"}}}
            ),
            clock=ManualClock(),
            summary=f"Charged twice; call back on {CALLER} (secret {SECRET}).",
        )
    spans = recorded.finished()
    assert len([s for s in spans if s.name.startswith("dial ")]) >= 2
    texts = [
        (s.name, dict(s.attributes or {}), [(e.name, dict(e.attributes or {})) for e in s.events])
        for s in spans
    ]
    assert canary_hits(texts) == []
    assert canary_hits(recorded.metrics_text()) == []


async def test_a_chain_is_one_dial_span_per_target_under_each_visit_of_its_step(
    recorded: Recorded,
) -> None:
    scenario = {
        "phones": {
            "+15105550100": {"answer": "busy"},
            "+15105550101": {"answer": 2.0, "on_brief": "decline"},
            "+15105550102": {"answer": 3.0, "on_brief": "accept"},
        }
    }
    result = await transfer(recorded, scenario, flow="supervisor_chain")
    assert result.outcome.kind == "merged"
    spans = recorded.finished()
    visits = sorted(
        (s for s in spans if s.name == "step dial_supervisors"), key=lambda s: s.start_time or 0
    )
    assert [(s.attributes or {}).get("transfer.step.outcome") for s in visits] == [
        "answered",
        "answered",
    ]
    dialled = [
        [
            (d.name, (d.attributes or {}).get("transfer.attempt.result"))
            for d in _children(spans, visit)
            if d.name.startswith("dial ")
        ]
        for visit in visits
    ]
    assert dialled == [
        [("dial primary", "busy"), ("dial backup", "answered")],
        [("dial team_lead", "answered")],
    ]
    (brief,) = [
        s
        for s in spans
        if s.name == "step brief_supervisor"
        and (s.attributes or {}).get("transfer.step.outcome") == "declined"
    ]
    assert brief.parent is not None
    assert (_one(spans, "warm_transfer").attributes or {})["transfer.attempts"] == 3
