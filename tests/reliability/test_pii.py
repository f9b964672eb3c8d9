"""Catalogue L: no canary number, secret or JWT in any output, rendered or not.

Every case of the suite already runs with canaries (the caller's and supervisors' numbers in
the scenario, the API secret and the caller's number in the summary, a secret in media
exception messages) and `Rig.verify` greps every captured structlog event, stdlib log
record, exception text, outcome and every name the library created (L1, L3). These cases add
what the event dicts cannot show: the text a configured application really prints (L2, with
exceptions carrying secrets in their messages and locals), and room names that carry the
caller's number, as LiveKit's default dispatch rules make them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator import TransferError, TransferInProgress, configure_logging
from tests.reliability.cases import DIAL, fault, phones
from tests.reliability.figures import FIGURES
from tests.reliability.harness import CALLER, SECRET, canary_hits, warm
from tests.reliability.invariants import check_dials, check_holds, check_leaks
from tests.reliability.rig import Rig

DISPATCH_ROOM = f"call-_{CALLER}_Xb3kQ"  # LiveKit's individual dispatch: prefix_number_random


def _rendered(capsys: pytest.CaptureFixture[str], rig: Rig) -> str:
    out = capsys.readouterr()
    return out.out + out.err + "\n".join(rig.tap.records)


@pytest.mark.parametrize(
    ("case", "scenario", "options"),
    [
        ("happy", phones({"answer": 1.0}), {}),
        ("media-raises", phones({"answer": 1.0}), {"failing_media": {"brief": "raise"}}),
        (
            "dial-refused",
            {"faults": [fault(DIAL, "internal", message=f"no {CALLER} {SECRET}")]},
            {},
        ),
        ("caller-id-fallback", {"trunk": {"caller_id_policy": "owned_only"}}, {}),
    ],
)
async def test_rendered_logs_carry_no_canary(
    case: str,
    scenario: dict[str, Any],
    options: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """L1/L2: the JSON lines an application configured with `configure_logging` prints
    (exceptions rendered, server error messages quoting the number and the secret)."""
    async with Rig(scenario, fault=f"L1-rendered-{case}", **options) as rig:
        rig.tap.pause()  # the application's own configuration renders this run
        configure_logging(json=True)
        try:
            await rig.start(warm())
            await rig.finish()
        finally:
            rig.tap.resume()
        # The rig's own log greps saw nothing (paused): the rendered output is checked here.
        problems = [*check_dials(rig), *check_holds(rig), *check_leaks(rig)]
        assert problems == []
        rig.verified = True
        text = _rendered(capsys, rig)
        hits = canary_hits([text])
        FIGURES.pii_leaks += len(hits)
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        assert any(line.get("event") == "transfer.finished" for line in lines)
        assert hits == [], hits


async def test_an_exception_logged_by_the_application_shows_no_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """L2: `configure_logging` renders tracebacks without locals."""
    configure_logging(json=True)
    import structlog

    log = structlog.get_logger("app")

    def dial(api_secret: str, caller_number: str) -> None:
        raise RuntimeError("dial failed")

    try:
        dial(SECRET, CALLER)
    except RuntimeError:
        log.exception("dial.failed")
    text = capsys.readouterr().out
    hits = canary_hits([text])
    FIGURES.pii_leaks += len(hits)
    assert "dial failed" in text
    assert hits == []


async def test_a_room_named_after_the_caller_appears_nowhere_raw() -> None:
    """L3: the caller room's name carries the number; logs and refusals mask it."""
    async with Rig(phones({"answer": 1.0}), room=DISPATCH_ROOM, fault="L3-dispatch-room") as rig:
        await rig.start(warm())
        with pytest.raises(TransferInProgress) as again:
            await rig.start(warm())
        await rig.finish()
        rig.verify()
        hits = canary_hits([str(again.value), repr(again.value)])
        FIGURES.pii_leaks += len(hits)
        assert hits == []


async def test_a_refusal_for_a_room_named_after_the_caller_masks_it() -> None:
    """L3/L4: the caller already left the room named after them: refused, masked."""
    async with Rig(room=DISPATCH_ROOM, fault="L3-refusal-masks-the-room") as rig:
        rig.caller_hangs_up()
        with pytest.raises(TransferError):
            await rig.start(warm())
        rig.verify()
