"""pytest plugin (entry point `pytest11`): a `livekit_sandbox` fixture for your own tests.

```python
@pytest.mark.livekit_sandbox(scenario={"phones": {"default": {"answer": "busy"}}})
async def test_busy_supervisor(livekit_sandbox, livekit_api):
    ...
```

Marker keywords: `scenario` (a `Scenario`, a dict, or a path to a scenario file), `flavor`
(`cloud` or `oss`), `manual_clock` (True: time stands still until
`livekit_sandbox.manual_clock.advance(seconds)`), plus any `Sandbox` keyword. Needs
pytest-asyncio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from livekit.api import LiveKitAPI

from orchestrator.clock import ManualClock
from orchestrator.sandbox.sandbox import Sandbox
from orchestrator.sandbox.scenario import Scenario, load_scenario

F = TypeVar("F", bound=Callable[..., Any])


def _async_fixture(fn: F) -> F:
    try:
        import pytest_asyncio
    except ImportError:  # the plugin loads in every pytest run; never break one without it
        return cast(F, pytest.fixture(fn))
    return cast(F, pytest_asyncio.fixture(fn))


__all__ = ["livekit_api", "livekit_sandbox"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "livekit_sandbox(scenario=None, flavor='cloud', manual_clock=False, **kwargs): "
        "configure the livekit_sandbox fixture",
    )


def _scenario(value: Any) -> Scenario | None:
    if value is None or isinstance(value, Scenario):
        return value
    if isinstance(value, dict):
        return Scenario.model_validate(value)
    return load_scenario(Path(value))


@_async_fixture
async def livekit_sandbox(request: pytest.FixtureRequest) -> AsyncIterator[Sandbox]:
    """A running sandbox: `.url`, `.api_key`, `.api_secret`, `.requests`, scenario control."""
    marker = request.node.get_closest_marker("livekit_sandbox")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    scenario = _scenario(options.pop("scenario", None))
    if options.pop("manual_clock", False):
        options["clock"] = ManualClock()
    async with Sandbox(scenario, **options) as sandbox:
        yield sandbox


@_async_fixture
async def livekit_api(livekit_sandbox: Sandbox) -> AsyncIterator[LiveKitAPI]:
    """The unmodified `livekit.api.LiveKitAPI` client, pointed at the sandbox."""
    client = LiveKitAPI(livekit_sandbox.url, livekit_sandbox.api_key, livekit_sandbox.api_secret)
    try:
        yield client
    finally:
        await client.aclose()
