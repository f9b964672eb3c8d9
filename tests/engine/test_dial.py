"""Dialling supervisors: refusals by the phone or the carrier, and numbers that do not exist."""

from __future__ import annotations

from orchestrator.errors import LiveKitError
from orchestrator.simulate import drive
from tests.engine.conftest import flow, live, run


# Found by the random-scenario fuzzer (was tests/engine/test_fuzz_regressions.py).
async def test_unknown_number_is_a_config_error() -> None:
    from orchestrator import load_flow
    from tests.engine.conftest import ROOT

    result, _ = await run(
        load_flow(ROOT / "flows" / "warm_transfer.yaml"),
        {
            "faults": [
                {
                    "rpc": "SIP.CreateSIPParticipant",
                    "code": "not_found",
                    "sip_status_code": 404,
                    "message": "Not Found",
                }
            ]
        },
    )
    assert (result.outcome.kind, result.outcome.reason, result.outcome.sip_status) == (
        "returned",
        "config_error",
        404,
    )


# Seen on the real stack (was tests/engine/test_real_stack_findings.py).
def test_a_phone_refusing_is_not_a_refused_api_key() -> None:
    """`test_dial_refused[decline]`, `test_dial_caller_id_refused_by_carrier`: LiveKit's SIP
    bridge answers a phone's 603 or 403 with Twirp `permission_denied`, SIP status attached."""
    phone = LiveKitError("declined", code="permission_denied", status=403, sip_status=603)
    key = LiveKitError("no grant", code="permission_denied", status=403)
    assert not phone.denied
    assert key.denied


# Seen on the real stack (was tests/engine/test_real_stack_findings.py).
async def test_a_declined_dial_leaves_no_permission_failure_behind() -> None:
    """It used to set `failure_reason = "permission"` on every 403/603 from a phone, which a
    later `failed` outcome of the same transfer then reported."""
    async with live({"phones": {"default": {"answer": "decline"}}}) as (sandbox, engine, _):
        transfer = await engine.start(flow("warm_transfer"), room="call-1")
        await drive(sandbox, engine, transfer.outcome)
        outcome = await transfer.outcome
        assert (outcome.kind, outcome.reason) == ("returned", "declined")
        assert [a.sip_status for a in outcome.attempts] == [603]
        assert transfer.failure_reason is None
