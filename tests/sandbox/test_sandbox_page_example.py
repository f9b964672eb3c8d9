"""The pytest example of docs/sandbox.md ("In your tests"), verbatim: what users copy must work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from livekit import api

PAGE = (Path(__file__).resolve().parents[2] / "docs" / "sandbox.md").read_text()


@pytest.mark.livekit_sandbox(scenario={"phones": {"default": {"answer": "busy"}}})
async def test_busy_supervisor(livekit_sandbox, livekit_api):  # type: ignore[no-untyped-def]
    livekit_sandbox.place_caller("call-1")
    with pytest.raises(api.SipCallError) as caught:
        await livekit_api.sip.create_sip_participant(
            api.CreateSIPParticipantRequest(
                sip_trunk_id="ST_sandbox",
                sip_call_to="+15105550100",
                room_name="consult",
                wait_until_answered=True,
            )
        )
    assert caught.value.sip_status_code == 486


def test_this_is_the_sandbox_page_example() -> None:
    source = Path(__file__).read_text()
    body = source[
        source.index("@pytest.mark.livekit_sandbox") : source.index("\n\n\ndef test_this")
    ]
    normalized = re.sub(r"\s+|,(?=\s*\))|# type: ignore\[[a-z-]+\]", "", body)
    page_blocks = re.findall(r"```python\n(.*?)```", PAGE, flags=re.S)
    assert any(normalized in re.sub(r"\s+|,(?=\s*\))", "", block) for block in page_blocks)
