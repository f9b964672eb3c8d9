"""Single flight: one transfer per caller in one engine; a second request, even at the same
moment, is refused."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator import TransferEngine, TransferInProgress
from orchestrator.sandbox import Sandbox
from orchestrator.simulate import drive
from orchestrator.testing import RecordingMedia
from tests.engine.conftest import flow


async def test_a_second_request_for_the_same_caller_is_refused(
    rig: tuple[Sandbox, TransferEngine, RecordingMedia],
) -> None:
    sandbox, engine, _ = rig
    first = await engine.start(flow("warm_transfer"), room="call-1")
    with pytest.raises(TransferInProgress) as caught:
        await engine.start(flow("warm_transfer"), room="call-1")
    assert caught.value.reason == "in_progress"
    assert caught.value.retryable
    await drive(sandbox, engine, first.outcome)
    assert (await first.outcome).kind == "merged"
    dials = [r for r in sandbox.requests if r["request"] and r["request"].get("sip_call_to")]
    assert len(dials) == 1


async def test_concurrent_requests_dial_once(
    rig: tuple[Sandbox, TransferEngine, RecordingMedia],
) -> None:
    """An LLM calling the transfer tool twice at once: one transfer, one refusal."""
    sandbox, engine, _ = rig
    results = await asyncio.gather(
        engine.start(flow("warm_transfer"), room="call-1"),
        engine.start(flow("warm_transfer"), room="call-1"),
        return_exceptions=True,
    )
    started = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, TransferInProgress)]
    assert (len(started), len(refused)) == (1, 1)
    await drive(sandbox, engine, started[0].outcome)
