"""`orchestrator preflight`: what a flow needs, checked against a LiveKit (the sandbox here)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from orchestrator import load_flow
from orchestrator.livekit.preflight import Check, preflight
from orchestrator.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
WARM = ROOT / "flows" / "warm_transfer.yaml"
# Time compressed: the open-source server takes 3 s to answer the MoveParticipant probe.
TRUNK = {"trunk": {"id": "ST_sandbox", "numbers": ["+18005550100"]}, "speed": 100}


async def checks(
    sandbox: Sandbox, *, flow: Path = WARM, trunk: str = "ST_sandbox", secret: str = ""
) -> list[Check]:
    return await preflight(
        load_flow(flow), sandbox.url, sandbox.api_key, secret or sandbox.api_secret, trunk
    )


async def command(env: dict[str, str]) -> tuple[int | None, str, str]:
    """`orchestrator preflight` on the shipped flow, in a child process (this loop serves the
    sandbox meanwhile)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator",
        "preflight",
        str(WARM),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


def by_topic(found: list[Check]) -> dict[str, list[str]]:
    topics: dict[str, list[str]] = {}
    for check in found:
        topics.setdefault(check.topic, []).append(check.status)
    return topics


@pytest.mark.livekit_sandbox(scenario=TRUNK)
async def test_cloud_is_ready(livekit_sandbox: Sandbox) -> None:
    found = await checks(livekit_sandbox)
    assert by_topic(found) == {
        "credentials": ["ok"],
        "grants": ["ok"],
        "trunk": ["ok"],
        "merge": ["ok"],
        "caller ID": ["note"],  # the carrier's policy cannot be checked remotely
    }
    assert "MoveParticipant is available" in next(c.detail for c in found if c.topic == "merge")


@pytest.mark.livekit_sandbox(scenario=TRUNK, flavor="oss")
async def test_self_hosted_says_in_room(livekit_sandbox: Sandbox) -> None:
    found = await checks(livekit_sandbox)
    merge = next(c for c in found if c.topic == "merge")
    assert merge.status == "ok"
    assert "in_room" in merge.detail
    assert not [r for r in livekit_sandbox.requests if r["rpc"] == "RoomService.CreateRoom"]


@pytest.mark.livekit_sandbox(scenario=TRUNK, flavor="oss")
async def test_self_hosted_with_strategy_move_fails(
    livekit_sandbox: Sandbox, tmp_path: Path
) -> None:
    flow = tmp_path / "move.yaml"
    flow.write_text(
        WARM.read_text().replace("max_hold: 120", "max_hold: 120\nmerge_strategy: move")
    )
    found = await checks(livekit_sandbox, flow=flow)
    merge = next(c for c in found if c.topic == "merge")
    assert merge.status == "fail"
    assert "set in_room or auto" in merge.detail


@pytest.mark.livekit_sandbox(scenario=TRUNK)
async def test_unknown_trunk_and_foreign_business_number(
    livekit_sandbox: Sandbox, tmp_path: Path
) -> None:
    found = await checks(livekit_sandbox, trunk="ST_nope")
    assert [c.status for c in found if c.topic == "trunk"] == ["fail"]
    assert "ST_nope does not exist" in next(c.detail for c in found if c.topic == "trunk")
    flow = tmp_path / "foreign.yaml"
    flow.write_text(WARM.read_text().replace('"+18005550100"', '"+18005550199"'))
    found = await checks(livekit_sandbox, flow=flow)
    refused = [c for c in found if c.topic == "caller ID" and c.status == "fail"]
    assert len(refused) == 1
    assert "+1800***0199" in refused[0].detail  # named, masked


@pytest.mark.livekit_sandbox(scenario=TRUNK)
async def test_wrong_secret_is_reported_and_nothing_else_is_tried(
    livekit_sandbox: Sandbox,
) -> None:
    found = await checks(livekit_sandbox, secret="not-the-secret-0123456789abcdef0123")
    assert len(found) == 1
    assert found[0].status == "fail"
    assert "LIVEKIT_API_SECRET" in found[0].detail


@pytest.mark.livekit_sandbox(scenario=TRUNK, flavor="oss", api_secret="s3cr3t-" + "x" * 32)
async def test_the_command(livekit_sandbox: Sandbox) -> None:
    env = {
        **os.environ,
        "LIVEKIT_URL": livekit_sandbox.url,
        "LIVEKIT_API_KEY": livekit_sandbox.api_key,
        "LIVEKIT_API_SECRET": livekit_sandbox.api_secret,
        "LIVEKIT_SIP_OUTBOUND_TRUNK": "ST_sandbox",
    }
    code, out, err = await command(env)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("ok    credentials")
    assert lines[-1].endswith("warm_transfer.yaml: ready")
    assert livekit_sandbox.api_secret not in out + err


async def test_the_command_without_credentials_names_the_variables() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    code, _, err = await command(env)
    assert code == 1
    assert "LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET" in err
    assert "Traceback" not in err
