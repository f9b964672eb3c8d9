"""A studio on a temporary copy of flows/, served on a free loopback port."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from orchestrator.studio import Guard, studio_app

ROOT = Path(__file__).resolve().parent.parent.parent


def copy_flows(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", folder)
    return folder


async def serve(folder: Path, guard: Guard) -> TestClient[object, object]:
    """The studio's app on 127.0.0.1; the guard learns the port it got."""
    server = TestServer(studio_app(folder, guard), host="127.0.0.1")
    client: TestClient[object, object] = TestClient(server)
    await client.start_server()
    guard.port = server.port or 0
    return client


@pytest_asyncio.fixture
async def folder(tmp_path: Path) -> Path:
    return copy_flows(tmp_path)


@pytest_asyncio.fixture
async def studio(folder: Path) -> AsyncIterator[TestClient[object, object]]:
    client = await serve(folder, Guard("127.0.0.1", 0))
    try:
        yield client
    finally:
        await client.close()
