"""Start and stop the real stack on 127.0.0.1: Redis, livekit-server and livekit-sip.

`up()` starts a fresh Redis (no persistence, so no rooms or trunks of an earlier run), the
server and the SIP bridge, each checked ready (never slept for) within `READY_S`, and records
their pids with their start times (in `build/stack/pids.json` for `make stack-up`). `down()`
stops exactly those processes (a pid reused by another program is left alone), with the
signals each one needs. Started for a test session (`detach=False`), the processes also die
with the session.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stack.build import BIN, HERE, LOGS, ROOT, StackError, binaries

__all__ = [
    *("DIE_WITH_PARENT", "ENV_FILE", "PORTS", "READY_S", "Ports"),
    *("down", "read_env", "running", "up"),
]

READY_S = 120.0
ENV_FILE = ROOT / "build" / "stack.env"
PIDS = HERE / "pids.json"
API_KEY = "devkey"


@dataclass(frozen=True)
class Ports:
    redis: int = 6390
    http: int = 7880
    rtc_udp: int = 7882
    debug: int = 7890
    """livekit-server's debug handler: `/debug/rooms` lists who receives which track."""
    webhook: int = 7891
    """Where the server posts its webhooks (the e2e tests listen there)."""
    sip: int = 5060
    rtp_first: int = 10000
    rtp_last: int = 10999


PORTS = Ports()


def _server_config(secret: str, ports: Ports, log_level: str = "info") -> str:
    # Loopback only: HTTP on 127.0.0.1, ICE over UDP on 127.0.0.1 (loopback candidates are
    # off by default, and then nothing listens there), ICE over TCP off (it binds every
    # interface), no STUN (node_ip set).
    return f"""\
port: {ports.http}
bind_addresses: [127.0.0.1]
keys:
  {API_KEY}: {secret}
redis:
  address: 127.0.0.1:{ports.redis}
rtc:
  udp_port: {ports.rtc_udp}
  tcp_port: 0
  node_ip: 127.0.0.1
  enable_loopback_candidate: true
  ips:
    includes: [127.0.0.1/32]
debug_handler:
  port: {ports.debug}
webhook:
  api_key: {API_KEY}
  urls: [http://127.0.0.1:{ports.webhook}/webhook]
logging:
  level: {log_level}
"""


def _sip_config(secret: str, ports: Ports) -> str:
    # max_cpu_utilization 1: on 2 cores the default 0.9 refuses dials ("cpu exhausted")
    # whenever the build or the tests keep both busy. Media timeouts are LiveKit's defaults:
    # the test phones stream RTP, as real phones do.
    return f"""\
api_key: {API_KEY}
api_secret: {secret}
ws_url: ws://127.0.0.1:{ports.http}
redis:
  address: 127.0.0.1:{ports.redis}
sip_port: {ports.sip}
listen_ip: 127.0.0.1
nat_1_to_1_ip: 127.0.0.1
rtp_port: {ports.rtp_first}-{ports.rtp_last}
max_cpu_utilization: 1
media_timeout: 15s
media_timeout_initial: 30s
logging:
  level: debug
"""


# -- processes ------------------------------------------------------------------------------


DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "KILL", "--"]
"""A command prefix (util-linux): the program gets SIGKILL when the process that started it
dies, so a killed test session leaves nothing running. (Not `preexec_fn`: forking a process
with threads, like one using LiveKit's rtc library, can deadlock before the exec.)"""


def _start_time(pid: int) -> str | None:
    """The kernel's start time of `pid`: with the pid, it names one process for good."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
"""Processes this one started and still has to wait for."""


def _spawn(name: str, argv: list[str], *, detach: bool) -> dict[str, object]:
    HERE.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{name}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            argv if detach else [*DIE_WITH_PARENT, *argv],
            cwd=HERE,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C at the terminal is for make, not for these
        )
    _CHILDREN[process.pid] = process
    return {"name": name, "pid": process.pid, "start": _start_time(process.pid), "log": str(log)}


def _alive(record: dict[str, object]) -> bool:
    pid = int(str(record["pid"]))
    return _start_time(pid) == record["start"] and not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _reap(pid: int) -> None:
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        del _CHILDREN[pid]


def _stop(record: dict[str, object]) -> None:
    """SIGINT ends livekit-sip's calls and exits (SIGTERM would wait for them to end);
    livekit-server waits forever for its participants on the first SIGTERM and stops on the
    second; SIGKILL for anything still there after its grace time."""
    pid, name = int(str(record["pid"])), str(record["name"])
    steps = {
        "livekit-sip": [(signal.SIGINT, 10.0)],
        "livekit-server": [(signal.SIGTERM, 1.0), (signal.SIGTERM, 10.0)],
    }.get(name, [(signal.SIGTERM, 5.0)])
    for sig, grace in [*steps, (signal.SIGKILL, 5.0)]:
        if not _alive(record):
            break
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _alive(record):
            _reap(pid)
            time.sleep(0.05)
    _reap(pid)


def _records() -> list[dict[str, object]]:
    try:
        records: list[dict[str, object]] = json.loads(PIDS.read_text())
    except (OSError, ValueError):
        return []
    return records


def running() -> bool:
    """Whether a stack `make stack-up` started is up (all of its processes alive)."""
    records = _records()
    return bool(records) and all(_alive(record) for record in records)


_SESSION: list[dict[str, object]] = []
"""What a test session's `up(detach=False)` started: kept here, not in `pids.json` (those
processes die with the session, and `make stack-down` is for the stack `make stack-up` runs)."""


def down() -> list[str]:
    """Stop the stack this process started for its session, or else the one `make stack-up`
    recorded; the bridge first. Returns the names of the processes stopped."""
    if _SESSION:
        records = list(_SESSION)
        _SESSION.clear()
    else:
        records = _records()
        PIDS.unlink(missing_ok=True)
        ENV_FILE.unlink(missing_ok=True)
    for record in reversed(records):
        _stop(record)
    return [str(record["name"]) for record in records]


# -- readiness ------------------------------------------------------------------------------


def _port_free(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as probe:
        if kind == socket.SOCK_STREAM:  # as servers do: a port left in TIME_WAIT is free
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _check_ports(ports: Ports) -> None:
    wanted = [
        (ports.redis, socket.SOCK_STREAM, "Redis"),
        (ports.http, socket.SOCK_STREAM, "livekit-server HTTP"),
        (ports.rtc_udp, socket.SOCK_DGRAM, "livekit-server RTC"),
        (ports.debug, socket.SOCK_STREAM, "livekit-server debug"),
        (ports.sip, socket.SOCK_DGRAM, "livekit-sip SIP/UDP"),
        (ports.sip, socket.SOCK_STREAM, "livekit-sip SIP/TCP"),
    ]
    for port, kind, what in wanted:
        if not _port_free(port, kind):
            proto = "tcp" if kind == socket.SOCK_STREAM else "udp"
            raise StackError(
                f"port {port}/{proto} ({what}) is in use on 127.0.0.1: run `make stack-down`, "
                f"or stop what uses it (`ss -lpn 'sport = :{port}'`)"
            )


def _redis_ready(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")
    return False


def _server_ready(port: int) -> bool:
    # "/" answers 200 once the node has published its stats (it then takes rooms).
    url = f"http://127.0.0.1:{port}/"
    with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as answer:
        return bool(answer.status == 200)
    return False


def _sip_ready(port: int, log: Path) -> bool:
    # "service ready" is logged once the bridge has registered for CreateSIPParticipant;
    # an OPTIONS answered shows its SIP port works.
    if "service ready" not in log.read_text(errors="replace"):
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(1)
        me = s.getsockname()[1]
        s.sendto(
            (
                f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{secrets.token_hex(6)}\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:ready@127.0.0.1>;tag=1\r\n"
                f"To: <sip:127.0.0.1:{port}>\r\nCall-ID: {secrets.token_hex(8)}\r\n"
                "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            ).encode(),
            ("127.0.0.1", port),
        )
        with contextlib.suppress(OSError):
            return s.recv(2048).startswith(b"SIP/2.0 200")
    return False


def _await(record: dict[str, object], ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if not _alive(record):
            _reap(int(str(record["pid"])))
            raise StackError(f"{record['name']} exited at start; its log: {record['log']}")
        if ready():
            return
        time.sleep(0.1)
    raise StackError(
        f"{record['name']} was not ready within {READY_S:.0f} s; its log: {record['log']}"
    )


def up(
    *, detach: bool = True, ports: Ports = PORTS, server_log_level: str = "info"
) -> dict[str, str]:
    """Start the stack (built beforehand); returns its environment (`build/stack.env`).

    `detach=False` ties the processes to this one (a test session): they die with it, and
    `down()` in this process stops them; nothing is written for `make stack-down`.
    """
    if running():
        raise StackError("a stack is already running: run `make stack-down` first")
    if detach:
        down()  # whatever a crashed `make stack-up` recorded
    _check_ports(ports)
    for binary in binaries():  # (not Jaeger: the e2e tests start it themselves)
        if binary.name.startswith("livekit") and not binary.path.exists():
            raise StackError(f"{binary.name} is not built: run `make stack-build`")
    secret = secrets.token_urlsafe(32)
    (HERE / "livekit-server.yaml").write_text(_server_config(secret, ports, server_log_level))
    (HERE / "livekit-sip.yaml").write_text(_sip_config(secret, ports))
    redis = ["redis-server", "--bind", "127.0.0.1", "--port", str(ports.redis)]
    redis += ["--save", "", "--appendonly", "no", "--dir", str(HERE)]
    plan: list[tuple[str, list[str], Callable[[dict[str, object]], bool]]] = [
        ("redis", redis, lambda _: _redis_ready(ports.redis)),
        (
            "livekit-server",
            [str(BIN / "livekit-server"), "--config", "livekit-server.yaml"],
            lambda _: _server_ready(ports.http),
        ),
        (
            "livekit-sip",
            [str(BIN / "livekit-sip"), "--config", "livekit-sip.yaml"],
            lambda record: _sip_ready(ports.sip, Path(str(record["log"]))),
        ),
    ]
    records: list[dict[str, object]] = [] if detach else _SESSION
    try:
        for name, argv, ready in plan:
            record = _spawn(name, argv, detach=detach)
            records.append(record)
            if detach:
                PIDS.write_text(json.dumps(records))
            _await(record, lambda record=record, ready=ready: ready(record))  # type: ignore[misc]
    except BaseException:
        down()
        raise
    env = {
        "LIVEKIT_URL": f"ws://127.0.0.1:{ports.http}",
        "LIVEKIT_API_KEY": API_KEY,
        "LIVEKIT_API_SECRET": secret,
        "LIVEKIT_SIP_ADDRESS": f"127.0.0.1:{ports.sip}",
    }
    if detach:
        ENV_FILE.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    return env


def read_env() -> dict[str, str]:
    """`build/stack.env` of the running stack."""
    pairs = (line.partition("=") for line in ENV_FILE.read_text().splitlines() if "=" in line)
    return {key: value for key, _, value in pairs}
