"""The real stack's runner (`stack/`): each way it cannot start says what failed, in one line,
within a deadline, and `down()` stops exactly what `up()` recorded.

No LiveKit here: stand-in programs play the components (`make e2e` runs the real ones).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack import build, run
from stack.build import StackError


@pytest.fixture
def stack_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The runner's files in a temporary folder instead of `build/stack/`."""
    monkeypatch.setattr(run, "HERE", tmp_path)
    monkeypatch.setattr(run, "LOGS", tmp_path / "logs")
    monkeypatch.setattr(run, "PIDS", tmp_path / "pids.json")
    monkeypatch.setattr(run, "ENV_FILE", tmp_path / "stack.env")
    yield tmp_path
    run.down()


def _free() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_port_in_use_is_named_with_its_component() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        others = {name: _free() for name in ("redis", "rtc_udp", "debug", "sip")}
        with pytest.raises(StackError) as caught:
            run._check_ports(run.Ports(http=port, **others))
    message = str(caught.value)
    assert f"port {port}/tcp (livekit-server HTTP) is in use" in message
    assert "make stack-down" in message


def test_no_go_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(StackError, match=r"Go not found: install Go 1\.26 or newer"):
        build.ensure_go()


def test_an_old_go_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "go"
    fake.write_text("#!/bin/sh\necho go1.21.4\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError, match=r"Go go1\.21\.4 is too old: LiveKit needs Go 1\.26"):
        build.ensure_go()


def test_a_component_that_exits_names_its_log(stack_dir: Path) -> None:
    record = run._spawn("livekit-sip", ["true"], detach=False)
    with pytest.raises(StackError) as caught:
        run._await(record, lambda: False)
    assert str(caught.value) == (
        f"livekit-sip exited at start; its log: {stack_dir / 'logs' / 'livekit-sip.log'}"
    )


def test_a_component_never_ready_times_out(
    stack_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run, "READY_S", 0.3)
    record = run._spawn("livekit-server", ["sleep", "30"], detach=False)
    run.PIDS.write_text(json.dumps([record]))
    with pytest.raises(StackError, match=r"livekit-server was not ready within 0 s; its log: "):
        run._await(record, lambda: False)
    assert run.down() == ["livekit-server"]
    assert not run._alive(record)


def test_down_leaves_a_reused_pid_alone(stack_dir: Path) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        forged = {"name": "redis", "pid": stranger.pid, "start": "1", "log": "x"}
        run.PIDS.write_text(json.dumps([forged]))
        assert run.down() == ["redis"]
        assert stranger.poll() is None  # not the process the stack started
    finally:
        stranger.kill()
        stranger.wait()


def test_a_started_component_dies_with_its_session(tmp_path: Path) -> None:
    """Started for a test session, a component gets SIGKILL when the session dies."""
    script = (
        "import sys; from pathlib import Path; from stack import run; "
        "run.HERE = run.LOGS = Path(sys.argv[1]); "
        "r = run._spawn('redis', ['sleep', '300'], detach=False); print(r['pid'], flush=True)"
    )
    root = str(Path(__file__).resolve().parents[2])
    session = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": root},
    )
    pid = int(session.stdout.split()[0])
    deadline = time.monotonic() + 20  # SIGKILL is at once; a loaded machine may be slow to show it
    while run._start_time(pid) is not None and not run._zombie(pid):
        assert time.monotonic() < deadline, "the component outlived its session"
        time.sleep(0.01)
