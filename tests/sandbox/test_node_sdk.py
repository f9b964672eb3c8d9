"""The sandbox serves LiveKit's official Node SDK (`livekit-server-sdk`), not only Python's.

`node/client.mjs` drives the sandbox with the unmodified npm package, installed at test time
from the committed `node/package-lock.json` (`npm ci`) into the pytest cache, once per lock.

What the Node SDK (2.19.x) puts on the wire, unlike the Python client: every Twirp request
is JSON, not protobuf: `POST /twirp/livekit.<Service>/<Method>` with
`Content-Type: application/json;charset=UTF-8` and a protojson body (lowerCamelCase field
names, Durations as "30s"), and it parses the JSON answer (proto field names are accepted).
Errors are read only when the answer's content type is exactly `application/json`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from orchestrator.sandbox import Sandbox, Scenario

NODE_DIR = Path(__file__).parent / "node"
ROOT = Path(__file__).resolve().parents[2]
INSTALL_FILES = ("package.json", "package-lock.json")
INSTALL_TIMEOUT = 300.0
RUN_TIMEOUT = 120.0
SECRET = "a-secret-long-enough-for-hs256-0123456789"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="the Node SDK test needs `node` and `npm` on PATH",
)


async def run(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run a program without blocking the event loop (the sandbox serves on it).

    Callers bound it with `asyncio.timeout`; a cancelled run kills the program.
    """
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def install_dirs(cache: Path) -> tuple[Path, Path | None]:
    """The install for the current lock, and a fresh staging directory when it is missing."""
    digest = hashlib.sha256()
    for name in INSTALL_FILES:
        digest.update((NODE_DIR / name).read_bytes())
    target = cache / digest.hexdigest()[:16]
    if (target / "node_modules" / "livekit-server-sdk" / "package.json").is_file():
        return target, None
    staging = cache / f"staging-{uuid.uuid4().hex}"
    staging.mkdir()
    for name in INSTALL_FILES:
        shutil.copy2(NODE_DIR / name, staging / name)
    return target, staging


def publish_install(cache: Path, staging: Path, target: Path) -> None:
    """Drop installs for earlier lock files, then move the new one into place."""
    for old in cache.iterdir():
        if old != staging:
            shutil.rmtree(old, ignore_errors=True)
    try:
        staging.rename(target)
    except OSError:  # another run installed it meanwhile
        shutil.rmtree(staging, ignore_errors=True)


async def installed_sdk(cache: Path) -> Path:
    """A directory holding `node_modules` installed by `npm ci`, reused while the lock holds.

    Installed under a fresh name, then renamed into place, so an interrupted or concurrent
    install never leaves a half-filled directory behind.
    """
    target, staging = install_dirs(cache)
    if staging is None:
        return target
    try:
        async with asyncio.timeout(INSTALL_TIMEOUT):
            code, out, err = await run("npm", "ci", "--no-audit", "--no-fund", cwd=staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if code != 0:
        shutil.rmtree(staging, ignore_errors=True)
        pytest.fail(f"npm ci failed ({code}):\n{out}\n{err}")
    publish_install(cache, staging, target)
    return target


async def test_node_sdk_drives_the_sandbox(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    cache = getattr(request.config, "cache", None)  # None under `-p no:cacheprovider`
    folder = cache.mkdir("node-sdk") if cache is not None else ROOT / "build" / "node-sdk"
    folder.mkdir(parents=True, exist_ok=True)
    sdk = await installed_sdk(folder)
    # Node resolves packages from the script's directory upwards: link the cached install.
    (tmp_path / "node_modules").symlink_to(sdk / "node_modules", target_is_directory=True)
    shutil.copy2(NODE_DIR / "client.mjs", tmp_path / "client.mjs")

    scenario = Scenario.model_validate(
        {"speed": 1000, "phones": {"default": {"answer": 1.0}, "+15105550101": {"answer": "busy"}}}
    )
    async with Sandbox(scenario, api_key="devkey", api_secret=SECRET) as sandbox:
        caller = sandbox.place_caller("call-1")
        env = {
            **os.environ,
            "LIVEKIT_URL": sandbox.url,
            "LIVEKIT_API_KEY": sandbox.api_key,
            "LIVEKIT_API_SECRET": sandbox.api_secret,
            "CALLER_ROOM": "call-1",
        }
        async with asyncio.timeout(RUN_TIMEOUT):
            code, out, err = await run("node", "client.mjs", cwd=tmp_path, env=env)
        assert code == 0, f"client.mjs failed ({code}):\n{out}\n{err}"
        result: dict[str, Any] = json.loads(out)

        # CreateRoom is idempotent: the second call answers the same room.
        created = result["create_room"]
        assert created["name"] == "consult"
        assert created["sid"].startswith("RM_")
        assert created["second_sid"] == created["sid"]
        assert result["list_rooms"] == ["call-1", "consult"]

        # The dial waited for the answer, then the SDK saw the participant and its attributes.
        assert result["create_sip_participant"]["participant_identity"] == "sup-1"
        assert result["create_sip_participant"]["room_name"] == "consult"
        [sup] = result["consult_participants"]
        assert sup["identity"] == "sup-1"
        assert sup["kind"] == "SIP"
        assert sup["attributes"]["sip.callStatus"] == "active"
        assert sup["attributes"]["sip.phoneNumber"] == "+15105550100"
        assert sup["attributes"]["sip.trunkPhoneNumber"] == "+14155552671"

        # UpdateParticipant merged the attribute into the SIP ones.
        attributes = result["update_participant"]["attributes"]
        assert attributes["transfer.state"] == "held"
        assert attributes["sip.callStatus"] == "active"

        # MoveParticipant took the supervisor, attributes and all, to the caller's room.
        moved = {p["identity"]: p for p in result["caller_room_participants"]}
        assert set(moved) == {caller, "sup-1"}
        assert moved["sup-1"]["attributes"]["transfer.state"] == "held"
        assert result["consult_after_move"] == []
        call_room = sandbox.room("call-1")
        assert call_room is not None
        assert set(call_room.members) == {caller, "sup-1"}

        # A busy phone is a SipCallError with the Twirp code and the SIP status.
        busy = result["busy"]
        assert busy["error"] == "SipCallError"
        assert busy["code"] == "resource_exhausted"
        assert busy["status"] == 429
        assert busy["metadata"]["sip_status_code"] == "486"
        assert busy["metadata"]["sip_status"] == "Busy Here"
        assert busy["sip_status_code"] == 486

        assert result["rooms_after_delete"] == ["call-1"]
        assert sandbox.room("consult") is None

    # The sandbox's own record of the calls.
    rpcs = [(entry["rpc"], entry["code"]) for entry in sandbox.requests]
    assert rpcs == [
        ("RoomService.CreateRoom", "ok"),
        ("RoomService.CreateRoom", "ok"),
        ("RoomService.ListRooms", "ok"),
        ("SIP.CreateSIPParticipant", "ok"),
        ("RoomService.ListParticipants", "ok"),
        ("RoomService.UpdateParticipant", "ok"),
        ("RoomService.MoveParticipant", "ok"),
        ("RoomService.ListParticipants", "ok"),
        ("RoomService.ListParticipants", "ok"),
        ("SIP.CreateSIPParticipant", "resource_exhausted"),
        ("RoomService.DeleteRoom", "ok"),
        ("RoomService.ListRooms", "ok"),
    ]
    dial = sandbox.requests[3]["request"]
    assert dial["sip_trunk_id"] == "ST_sandbox"
    assert dial["sip_call_to"] == "+15105550100"
    assert dial["sip_number"] == "+14155552671"  # fromNumber is the From (caller ID)
    assert dial["participant_identity"] == "sup-1"
    assert dial["wait_until_answered"] is True
    assert dial["ringing_timeout"] == "30s"  # the SDK's default when waiting
    move = sandbox.requests[6]["request"]
    assert move == {"room": "consult", "identity": "sup-1", "destination_room": "call-1"}

    # JSON on the wire, both ways, for every call; errors as exactly application/json.
    wire = result["wire"]
    assert len(wire) == len(sandbox.requests)
    for call, entry in zip(wire, sandbox.requests, strict=True):
        assert call["method"] == "POST"
        assert call["path"] == "/twirp/livekit." + entry["rpc"].replace(".", "/")
        assert call["content_type"] == "application/json;charset=UTF-8"
        assert call["user_agent"].startswith("livekit-server-sdk-node/")
        assert call["has_request_id"] is True
        assert call["status"] == entry["status"]
        if entry["code"] == "ok":
            assert call["response_content_type"].split(";")[0] == "application/json"
        else:  # the SDK reads an error's code and metadata only under this exact type
            assert call["response_content_type"] == "application/json"
