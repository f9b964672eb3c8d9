"""`orchestrator watchdog`: bad input named without a traceback; served until interrupted."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import signal
import sys

import aiohttp
import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.cli.serving import address as _address
from orchestrator.cli.watchdog_cmd import watchdog
from orchestrator.livekit.address import check_url
from orchestrator.sandbox import Sandbox
from tests.watchdog.conftest import SECRET, sign

ENV = {
    "LIVEKIT_URL": "http://127.0.0.1:7880",
    "LIVEKIT_API_KEY": "devkey",
    "LIVEKIT_API_SECRET": SECRET,
}


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["watchdog", *args], env=env if env is not None else ENV)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        pytest.param([], ENV, "--agent-name", id="no-agent-name"),
        pytest.param(["--agent-name", " "], ENV, "--agent-name", id="blank-agent-name"),
        pytest.param(["--agent-name", "a/b"], ENV, "--agent-name", id="bad-agent-name"),
        pytest.param(["--agent-name", "a", "--port", "70000"], ENV, "--port", id="port"),
        pytest.param(["--agent-name", "a", "--port", "x"], ENV, "--port", id="port-text"),
        pytest.param(
            ["--agent-name", "a", "--sweep-seconds", "0"], ENV, "--sweep-seconds", id="sweep"
        ),
        pytest.param(
            ["--agent-name", "a"],
            {**ENV, "LIVEKIT_API_SECRET": ""},
            "LIVEKIT_API_SECRET",
            id="no-secret",
        ),
        pytest.param(
            ["--agent-name", "a"], {**ENV, "LIVEKIT_URL": "localhost"}, "LIVEKIT_URL", id="url"
        ),
        pytest.param(
            ["--agent-name", "a"],
            {**ENV, "LIVEKIT_URL": "wss://x.livekit.cloud"},
            "--cloud",
            id="cloud",
        ),
        *(
            pytest.param(
                ["--agent-name", "a"], {**ENV, "LIVEKIT_URL": url}, "LIVEKIT_URL", id=name
            )
            for name, url in [
                ("url-ipv6-unclosed", "http://[::1"),
                ("url-port-too-big", "http://127.0.0.1:99999"),
                ("url-port-negative", "http://127.0.0.1:-1"),
                ("url-port-text", "http://127.0.0.1:abc"),
                ("url-port-zero", "http://127.0.0.1:0"),
                ("url-credentials", "http://user:pw@127.0.0.1:1"),
                ("url-user", "http://user@127.0.0.1:7880"),
            ]
        ),
        pytest.param(["--agent-name", "a", "--host", ""], ENV, "--host: ", id="host-empty"),
        pytest.param(["--agent-name", "a", "--host", " "], ENV, "--host: ", id="host-blank"),
        *(
            pytest.param(
                ["--agent-name", "a", "--sweep-seconds", value],
                ENV,
                "--sweep-seconds: must be a number of seconds between 1 and 3600",
                id=f"sweep-{value}",
            )
            for value in ["nan", "inf", "0.5", "3601"]
        ),
    ],
)
def test_bad_input_names_the_field(args: list[str], env: dict[str, str], named: str) -> None:
    code, output = run(*args, env=env)
    assert code == 2
    assert named in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    "url",
    ["http://[::1]:7880", "ws://127.0.0.1", "https://livekit.example.com:443", "wss://h:1"],
)
def test_usable_urls_are_taken(url: str) -> None:
    check_url(url)


@pytest.mark.parametrize(
    ("host", "port", "address"),
    [("127.0.0.1", 7879, "127.0.0.1:7879"), ("::1", 1, "[::1]:1"), ("::", 80, "[::]:80")],
)
def test_printed_addresses_bracket_ipv6(host: str, port: int, address: str) -> None:
    assert _address(host, port) == address


def test_host_defaults_to_loopback() -> None:
    """Also seen served: the process below binds 127.0.0.1 without --host."""
    assert inspect.signature(watchdog).parameters["host"].default == "127.0.0.1"


def test_a_port_in_use_is_said() -> None:
    async def hold() -> tuple[int, str]:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return await asyncio.to_thread(run, "--agent-name", "a", "--port", str(port))
        finally:
            server.close()
            await server.wait_closed()

    code, output = asyncio.run(hold())
    assert code == 2
    assert "--host/--port: cannot listen on 127.0.0.1" in output
    assert "Traceback" not in output


async def test_serves_webhooks_and_health_until_interrupted() -> None:
    async with Sandbox(api_secret=SECRET) as sandbox:
        env = {**os.environ, **ENV, "LIVEKIT_URL": sandbox.url}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "orchestrator", "watchdog", "--agent-name", "support", "--port", "0"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        assert process.stdout is not None
        try:
            async with asyncio.timeout(30):  # a real process: a deadline, not a sleep
                first = ""
                while " on http" not in first:  # log lines may come first
                    first = (await process.stdout.readline()).decode()
                    assert first, "the watchdog exited before serving"
                base = first.split(" on ")[1].strip()
                assert base.startswith("http://127.0.0.1:")
                body = json.dumps({"event": "room_started", "room": {"name": "r"}}).encode()
                async with aiohttp.ClientSession() as session:
                    async with session.post(
                        f"{base}/webhook", data=body, headers={"Authorization": sign(body)}
                    ) as reply:
                        assert reply.status == 200
                    async with session.post(f"{base}/webhook", data=body) as reply:
                        assert reply.status == 401
                    async with session.get(f"{base}/healthz") as reply:
                        counts = (await reply.json())["counts"]
            assert counts["webhooks.ignored"] == 1
            assert counts["webhooks.refused_unsigned"] == 1
        finally:
            process.send_signal(signal.SIGINT)
            _, stderr = await process.communicate()
        assert process.returncode == 0, stderr
        assert any(e["rpc"] == "RoomService.ListRooms" for e in sandbox.requests)  # swept


def test_logging_configured_after_the_watchdog_is_made_applies(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The CLI configures logging (`--json`) once it serves: a watchdog made before logs
    through that configuration."""
    import structlog

    from orchestrator.logs import configure_logging
    from orchestrator.watchdog import Watchdog

    dog = Watchdog("http://127.0.0.1:7880", "devkey", SECRET, agent_name="a")
    configure_logging(json=True)
    try:
        dog.receive(b"{}", None)
    finally:
        structlog.reset_defaults()
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (line["event"], line["why"], line["watchdog"]) == (
        "watchdog.webhook_refused",
        "unsigned",
        dog.id,
    )


def test_the_watchdog_id_never_holds_a_digit_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The id is logged with every line and the log masker masks runs of 7 digits: letters
    only, whatever the random source gives (here the worst a hex token could be)."""
    from orchestrator.watchdog import Watchdog
    from orchestrator.watchdog.watchdog import new_watchdog_id

    monkeypatch.setattr("secrets.token_hex", lambda n=None: "1" * 2 * (n or 16))
    monkeypatch.setattr("secrets.token_bytes", lambda n=None: b"\x11" * (n or 32))
    dog = Watchdog("http://127.0.0.1:7880", "devkey", SECRET, agent_name="a")
    assert re.fullmatch(r"[a-z]{8}", dog.id), dog.id
    assert all(re.fullmatch(r"[a-z]{8}", new_watchdog_id()) for _ in range(1000))
