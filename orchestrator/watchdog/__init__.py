"""Self-hosted crash recovery: `Watchdog` dispatches the agent again to a room whose caller
still carries a transfer checkpoint after its agent left (`orchestrator watchdog`)."""

from orchestrator.watchdog.http import aiohttp_app, asgi_app
from orchestrator.watchdog.metrics import Metrics
from orchestrator.watchdog.watchdog import Received, Watchdog

__all__ = ["Metrics", "Received", "Watchdog", "aiohttp_app", "asgi_app"]
