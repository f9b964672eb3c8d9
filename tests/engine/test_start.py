"""Starting a transfer: an API error at start is a typed error; a slow start is still driven."""

from __future__ import annotations

import pytest

from orchestrator import TransferError
from tests.engine.conftest import run


# Found by the random-scenario fuzzer (was tests/engine/test_fuzz_regressions.py).
async def test_an_api_error_at_start_is_a_typed_error() -> None:
    faults = [{"rpc": "RoomService.ListParticipants", "code": "unavailable"}]
    with pytest.raises(TransferError) as caught:
        await run("warm_transfer", {"faults": faults})
    assert (caught.value.reason, caught.value.retryable) == ("unavailable", True)


# Found by the random-scenario fuzzer (was tests/engine/test_fuzz_regressions.py).
async def test_a_slow_start_is_driven_too() -> None:
    faults = [{"rpc": "RoomService.ListParticipants", "delay": 40.0}]
    result, _ = await run("warm_transfer", {"faults": faults})
    assert result.outcome.kind == "merged"
