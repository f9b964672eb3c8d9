"""The summary the supervisor hears, the tool the LLM sees, and the consult-room token."""

from __future__ import annotations

import datetime

import jwt
from livekit import api
from livekit.agents.llm.utils import build_legacy_openai_schema

from orchestrator.agents import consult_token
from orchestrator.agents.summary import bounded, summarize_chat
from tests.agents.conftest import agent_rig, chat

KEY, SECRET = "APIkey", "a-secret-that-is-long-enough-for-hs256"


def test_the_summary_keeps_the_newest_turns_within_the_limit() -> None:
    history = chat(
        ("system", "Be nice."),
        ("user", "first question " * 20),
        ("assistant", "first answer " * 20),
        ("developer", "hidden"),
        ("user", "  I was   charged\ntwice. "),
        ("assistant", "Let me transfer you."),
    )
    text = summarize_chat(history, limit=120)
    assert text == "Caller: I was charged twice. Agent: Let me transfer you."
    assert len(summarize_chat(history)) <= 500
    assert "Be nice" not in summarize_chat(history)
    assert "hidden" not in summarize_chat(history)


def test_the_summary_counts_turns_and_cuts_a_long_one_at_a_word() -> None:
    history = chat(*[("user", f"turn {n}") for n in range(10)])
    assert summarize_chat(history, turns=2) == "Caller: turn 8 Caller: turn 9"
    long = chat(("user", "word " * 400))
    text = summarize_chat(long, limit=100)
    assert len(text) <= 100
    assert text.endswith("word…")
    assert text.startswith("Caller: word")
    assert summarize_chat(chat()) == ""
    assert bounded("a b c", 3) == "a…"


def test_the_consult_token_joins_one_room_and_can_do_nothing_else() -> None:
    token = consult_token(KEY, SECRET, "consult-abcdefghijkl")
    claims = api.TokenVerifier(KEY, SECRET).verify(token)
    assert claims.identity.startswith("agent-briefer-")
    video = claims.video
    assert video is not None
    assert video.room == "consult-abcdefghijkl"
    assert (video.room_join, video.can_publish, video.can_subscribe) == (True, True, True)
    assert video.can_publish_data is False
    for grant in ("room_admin", "room_create", "room_list", "room_record", "destination_room"):
        assert not getattr(video, grant), grant
    assert claims.sip is None or not (claims.sip.admin or claims.sip.call)

    raw = jwt.decode(token, SECRET, algorithms=["HS256"], issuer=KEY)
    assert set(raw) == {"video", "sub", "iss", "nbf", "exp"}  # no sip, no kind, no metadata
    assert raw["video"] == {
        "roomJoin": True,
        "room": "consult-abcdefghijkl",
        "canPublish": True,
        "canSubscribe": True,
        "canPublishData": False,
    }
    assert 0 < raw["exp"] - raw["nbf"] <= datetime.timedelta(minutes=5).total_seconds()


def test_each_token_names_a_new_briefer() -> None:
    first, second = (
        api.TokenVerifier(KEY, SECRET).verify(consult_token(KEY, SECRET, "consult-x"))
        for _ in range(2)
    )
    assert first.identity != second.identity


async def test_the_llm_sees_one_tool_with_one_argument() -> None:
    async with agent_rig() as rig:
        schema = build_legacy_openai_schema(rig.warm.tool)
        assert schema["function"]["name"] == "transfer_to_supervisor"
        parameters = schema["function"]["parameters"]
        assert list(parameters["properties"]) == ["reason"]  # the RunContext is not asked for
        assert parameters["required"] == ["reason"]
        assert "supervisor" in schema["function"]["description"]
