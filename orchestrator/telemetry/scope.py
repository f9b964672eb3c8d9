"""The instrumentation scope of the library's spans and metrics."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["SCOPE", "VERSION"]

SCOPE = "orchestrator"
try:
    VERSION = version("livekit-warm-transfer")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "0.0.0"
