"""What a probe's answer is kept for: the server and the credentials, in one event loop."""

from __future__ import annotations

import structlog

from orchestrator.clock import ManualClock
from orchestrator.livekit import Gateway
from orchestrator.livekit.probe import capabilities, known
from orchestrator.sandbox import Sandbox


async def test_a_server_on_a_reused_port_with_other_credentials_is_probed_again() -> None:
    """`orchestrator test` runs its scenarios one after the other in one event loop, each
    against a sandbox of its own with a secret of its own; the port of one can come back
    for a later one. An open-source sandbox there must not inherit a LiveKit Cloud
    sandbox's "MoveParticipant exists" (it did: `warm_self_hosted` then failed to merge,
    about one run in ten under load)."""
    log = structlog.get_logger("test")
    async with Sandbox(
        api_key="k", api_secret="first", flavor="cloud", clock=ManualClock()
    ) as cloud:
        port = cloud.port
        gateway = Gateway(cloud.url, "k", "first")
        try:
            assert (await capabilities(gateway, log)).move
        finally:
            await gateway.close()
    oss = Sandbox(api_key="k", api_secret="second", flavor="oss", port=port, clock=ManualClock())
    async with oss:
        gateway = Gateway(oss.url, "k", "second")
        try:
            assert known(gateway) is None  # probed afresh, not the cloud's answer
        finally:
            await gateway.close()
