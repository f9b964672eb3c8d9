"""Build what the real stack needs: Debian packages by apt; LiveKit and Jaeger by Go.

Everything lands in `build/stack/` (git-ignored). A binary is rebuilt only when its pinned
version changed; Go's module and build caches make a rebuild after that quick.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    *("BIN", "HERE", "LOGS", "ROOT", "Binary", "StackError", "binaries", "build"),
    *("ensure_go", "ensure_packages", "versions"),
]

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "build" / "stack"
BIN = HERE / "bin"
LOGS = HERE / "logs"
# The programs and pkg-config libraries the apt packages provide.
_COMMANDS = (
    "redis-server",
    "sipp",
    "prometheus",
    "pkg-config",
    "gcc",
    "chromium",
    "chromedriver",
    "dot",
)
_LIBRARIES = ("opus", "opusfile", "soxr")


class StackError(Exception):
    """The stack cannot be built or started; the message is one line that says what to do."""


@dataclass(frozen=True)
class Binary:
    name: str
    module: str
    package: str
    version: str
    cgo: bool

    @property
    def path(self) -> Path:
        return BIN / self.name

    @property
    def stamp(self) -> str:
        return f"{self.module} {self.version}"


def versions() -> dict[str, str]:
    """The pins of `stack/versions.env`."""
    pins: dict[str, str] = {}
    for line in (ROOT / "stack" / "versions.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pins[key.strip()] = value.strip()
    return pins


def binaries() -> list[Binary]:
    pins = versions()
    return [
        Binary(
            "livekit-server",
            pins["LIVEKIT_SERVER_MODULE"],
            pins["LIVEKIT_SERVER_PACKAGE"],
            pins["LIVEKIT_SERVER_VERSION"],
            cgo=False,
        ),
        Binary(
            "livekit-sip",
            pins["LIVEKIT_SIP_MODULE"],
            pins["LIVEKIT_SIP_PACKAGE"],
            pins["LIVEKIT_SIP_VERSION"],
            cgo=True,
        ),
        Binary(
            "jaeger",
            pins["JAEGER_MODULE"],
            pins["JAEGER_PACKAGE"],
            pins["JAEGER_VERSION"],
            cgo=False,
        ),
    ]


def _say(message: str) -> None:
    print(f"stack: {message}", flush=True)


def _missing_packages() -> list[str]:
    missing = [name for name in _COMMANDS if shutil.which(name) is None]
    if shutil.which("pkg-config") is not None:
        for library in _LIBRARIES:
            if subprocess.run(["pkg-config", "--exists", library], check=False).returncode:
                missing.append(f"lib{library}-dev")
    return missing


def ensure_packages() -> None:
    """Install the Debian packages with apt-get when something is missing (root only)."""
    missing = _missing_packages()
    if not missing:
        return
    packages = versions()["APT_PACKAGES"].split()
    command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise StackError(
            f"missing {', '.join(missing)}: install them as root with "
            f"`apt-get install {' '.join(packages)}` (Debian or Ubuntu), then run this again"
        )
    _say(f"installing {' '.join(packages)} with apt-get (missing: {', '.join(missing)})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update", "-qq"], command):
        done = subprocess.run(step, env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise StackError(f"`{' '.join(step)}` failed: {tail[0]}")
    still = _missing_packages()
    if still:
        raise StackError(f"apt-get installed the packages but {', '.join(still)} is missing")


def ensure_go() -> str:
    """The `go` command, if it is new enough; its version otherwise says what to install."""
    go = shutil.which("go")
    minimum = versions()["GO_MIN_VERSION"]
    if go is None:
        raise StackError(f"Go not found: install Go {minimum} or newer (https://go.dev/dl)")
    found = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False)
    match = re.match(r"go(\d+)\.(\d+)", found.stdout.strip())
    have = (int(match[1]), int(match[2])) if match else (0, 0)
    want = tuple(int(part) for part in minimum.split("."))
    if have < want:
        raise StackError(
            f"Go {found.stdout.strip() or '(unknown version)'} is too old: LiveKit needs Go "
            f"{minimum} or newer (https://go.dev/dl)"
        )
    return go


def _stamp_path(binary: Binary) -> Path:
    return BIN / f"{binary.name}.version"


def _built(binary: Binary) -> bool:
    stamp = _stamp_path(binary)
    return binary.path.exists() and stamp.exists() and stamp.read_text() == binary.stamp


def _build(go: str, binary: Binary) -> None:
    # `go install module/cmd@version` first asks the proxy for the module's version list to
    # check deprecation; the proxy the project's machines reach refuses that list for
    # livekit/sip. A module that requires exactly the pinned version builds the same
    # dependency versions (verified against sum.golang.org, like `go install`).
    source = HERE / "src" / binary.name
    source.mkdir(parents=True, exist_ok=True)
    (source / "go.mod").write_text(
        f"module stackbuild/{binary.name}\n\ngo {versions()['GO_MIN_VERSION']}\n\n"
        f"require {binary.module} {binary.version}\n"
    )
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"build-{binary.name}.log"
    env = {**os.environ, "GOFLAGS": "-mod=mod", "CGO_ENABLED": "1" if binary.cgo else "0"}
    _say(
        f"building {binary.name} {binary.version} with Go into {binary.path.relative_to(ROOT)} "
        "(cold: a few minutes; log: " + str(log.relative_to(ROOT)) + ")"
    )
    started = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(
            [go, "build", "-trimpath", "-o", str(binary.path), binary.package],
            cwd=source,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode:
        lines = log.read_text().strip().splitlines()
        raise StackError(
            f"building {binary.name} {binary.version} failed "
            f"({lines[-1].strip() if lines else 'no output'}); full log: {log}"
        )
    _stamp_path(binary).write_text(binary.stamp)
    _say(f"built {binary.name} in {time.monotonic() - started:.0f} s")


def build() -> None:
    """Install the packages and build the binaries that are missing or out of date."""
    ensure_packages()
    todo = [binary for binary in binaries() if not _built(binary)]
    if not todo:
        return
    go = ensure_go()
    BIN.mkdir(parents=True, exist_ok=True)
    for binary in todo:
        _build(go, binary)
