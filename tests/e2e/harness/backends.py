"""Real telemetry backends for the end-to-end session: Jaeger v2 and Prometheus on 127.0.0.1.

`Jaeger` (built by `stack/build.py` from the Go module proxy) receives spans over OTLP/HTTP
and keeps them in memory; its query API (`/api/traces`) gives them back. `Prometheus`
(Debian's `prometheus`) scrapes one metrics endpoint every second into a temporary data
folder; its HTTP API (`/api/v1/query`) answers PromQL. Each one is checked ready within
`READY_S` (never slept for), dies with the test session, and is stopped (and its data
deleted) by `stop()`.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from stack.build import BIN
from stack.run import DIE_WITH_PARENT, READY_S

__all__ = ["Jaeger", "Prometheus", "free_port"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the kernel's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read()
    except OSError:
        return 0, b""


class _Process:
    """One backend program, its output in `folder/<name>.log`."""

    name = ""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.log = folder / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def _start(self, command: list[str], ready: str) -> None:
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [*DIE_WITH_PARENT, *command],
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + READY_S
        while _get(ready, 1.0)[0] != 200:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}): {self.log}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"{self.name} not ready within {READY_S:.0f} s: {self.log}")
            time.sleep(0.05)  # a poll interval, under the deadline above

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Jaeger(_Process):
    """Jaeger v2: an OTLP/HTTP receiver, in-memory storage, the query API."""

    name = "jaeger"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.otlp, self.query, self.grpc, self.health = (free_port() for _ in range(4))

    @property
    def endpoint(self) -> str:
        """For `OTEL_EXPORTER_OTLP_ENDPOINT` (the exporters add `/v1/traces`)."""
        return f"http://127.0.0.1:{self.otlp}"

    def _config(self) -> str:
        # Only what the tests use, every port on 127.0.0.1 (the default config listens on
        # every interface and also serves its own metrics on :8888).
        return f"""\
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:{self.health}
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{self.query}
    grpc:
      endpoint: 127.0.0.1:{self.grpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{self.otlp}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""

    def start(self) -> None:
        config = self.folder / "jaeger.yaml"
        config.write_text(self._config())
        binary = BIN / "jaeger"
        if not binary.exists():
            raise RuntimeError("jaeger is not built: run `make stack-build`")
        self._start(
            [str(binary), "--config", f"file:{config}"], f"http://127.0.0.1:{self.health}/status"
        )

    def traces(self, service: str, operation: str) -> list[dict[str, Any]]:
        """The traces holding a span `operation` of `service` (Jaeger's JSON: `spans`, each
        with `operationName`, `references`, `tags`, `startTime` and `duration` in µs)."""
        query = urllib.parse.urlencode({"service": service, "operation": operation, "limit": 50})
        status, body = _get(f"http://127.0.0.1:{self.query}/api/traces?{query}")
        if status != 200:
            return []
        found: list[dict[str, Any]] = json.loads(body).get("data") or []
        return found


class Prometheus(_Process):
    """Prometheus scraping `http://127.0.0.1:<target>/metrics` every second."""

    name = "prometheus"

    def __init__(self, folder: Path, target: int) -> None:
        super().__init__(folder)
        self.target, self.port = target, free_port()
        self.data = Path(tempfile.mkdtemp(prefix="e2e-prometheus-"))

    def start(self) -> None:
        config = self.folder / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: warm-transfer-worker\n"
            f"    static_configs:\n      - targets: ['127.0.0.1:{self.target}']\n"
        )
        command = ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={self.data}"]
        command += [f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"]
        self._start(command, f"http://127.0.0.1:{self.port}/-/ready")

    def query(self, expression: str) -> list[dict[str, Any]]:
        """PromQL's instant vector now: `[{"metric": {...}, "value": [time, "text"]}]`."""
        query = urllib.parse.urlencode({"query": expression})
        status, body = _get(f"http://127.0.0.1:{self.port}/api/v1/query?{query}")
        if status != 200:
            return []
        answer = json.loads(body)
        result: list[dict[str, Any]] = answer.get("data", {}).get("result", [])
        return result

    def target_up(self) -> bool:
        """Whether its last scrape of the worker worked."""
        return any(r["value"][1] == "1" for r in self.query("up{job='warm-transfer-worker'}"))

    def stop(self) -> None:
        super().stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(self.data)
