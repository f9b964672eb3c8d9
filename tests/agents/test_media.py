"""`AgentMedia` on its own: hold gates the session and gives it back, speech during hold, the
music a hold step names, screening, and leaving.

Fast checks of the logic, with a fake session and player. The real thing runs in `make e2e`
(`tests/e2e/test_worker.py`): a livekit-agents session whose input and output really go off
on hold, hold music and briefs that really reach the phones, a job that really ends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from livekit.agents import JobContext, llm
from livekit.agents.testing import fake_job_context
from livekit.agents.voice.background_audio import AudioConfig, BuiltinAudioClip

from orchestrator.agents import AgentMedia
from orchestrator.engine.ports import Briefing
from tests.agents.fakes import FakeParticipant, FakeRoom, FakeSession, Players, Tracks

GATED = ["input.audio=False", "output.audio=False", "output.transcription=False"]


@pytest.fixture
def ctx() -> Iterator[JobContext]:
    with fake_job_context(room=FakeRoom("call-1")) as job:  # type: ignore[arg-type]
        yield job
        job._tempdir.cleanup()


def media_for(
    ctx: JobContext, session: FakeSession, players: Players, **options: Any
) -> AgentMedia:
    return AgentMedia(
        ctx,
        session,  # type: ignore[arg-type]
        url="http://127.0.0.1:7880",
        api_key="devkey",
        api_secret="secret",
        player=players,  # type: ignore[arg-type]
        track=Tracks(),  # type: ignore[arg-type]
        **options,
    )


async def test_hold_gates_input_and_output_and_restores_them(ctx: JobContext) -> None:
    session, players = FakeSession(), Players()
    media = media_for(ctx, session, players, hold_volume=0.5)
    await media.start_hold("call-1", "builtin")
    assert session.log == [*GATED, "interrupt"]
    (player,) = players.made
    assert player.room is ctx.room
    assert player.played == [(AudioConfig(BuiltinAudioClip.HOLD_MUSIC, volume=0.5), True)]
    assert media.holding

    await media.start_hold("call-1", "builtin")  # again: nothing more
    assert len(players.made) == 1

    await media.stop_hold("call-1")
    assert player.handle.stopped
    assert player.closed
    restored = ["input.audio=True", "output.audio=True", "output.transcription=True"]
    assert session.log[4:] == restored
    assert not media.holding
    assert ctx.room.local_participant.track_publications == {}  # type: ignore[attr-defined]


async def test_hold_gives_back_what_was_there_before(ctx: JobContext) -> None:
    session = FakeSession()
    session.output.transcription_enabled = False  # the app had switched it off itself
    media = media_for(ctx, session, Players())
    await media.start_hold("call-1", "none")
    await media.stop_hold("call-1")
    assert session.output.transcription_enabled is False
    assert session.input.audio_enabled
    assert session.output.audio_enabled


async def test_streams_that_do_not_exist_are_not_switched(ctx: JobContext) -> None:
    session = FakeSession()
    session.input.audio = None  # a text-only session, say
    media = media_for(ctx, session, Players())
    await media.start_hold("call-1", "none")
    await media.stop_hold("call-1")
    assert not any(entry.startswith("input.") for entry in session.log)


async def test_stop_hold_without_a_hold_changes_nothing(ctx: JobContext) -> None:
    session = FakeSession()
    await media_for(ctx, session, Players()).stop_hold("call-1")
    assert session.log == []


async def test_speech_during_hold_is_heard_then_gated_again(ctx: JobContext) -> None:
    session = FakeSession()
    media = media_for(ctx, session, Players())
    await media.say_to_caller("call-1", "Before the hold.")
    await media.start_hold("call-1", "builtin")
    await media.say_to_caller("call-1", "Still trying, thank you for waiting.")
    assert session.said == ["Before the hold.", "Still trying, thank you for waiting."]
    assert session.log == [
        "say audio=True",
        *GATED,
        "interrupt",
        "input.audio=False",  # still not listening while it speaks
        "output.audio=True",
        "output.transcription=True",
        "say audio=True",
        *GATED,  # the caller is still on hold: still not listening
    ]
    assert session.input.audio_enabled is False


async def test_music_from_a_file_next_to_the_flow(ctx: JobContext, tmp_path: Path) -> None:
    (tmp_path / "hold.ogg").write_bytes(b"OggS")
    players = Players()
    media = media_for(ctx, FakeSession(), players, music_dir=tmp_path)
    await media.start_hold("call-1", "hold.ogg")
    ((audio, loop),) = players.made[0].played
    assert audio.source == str(tmp_path / "hold.ogg")
    assert loop


async def test_missing_music_fails_before_anything_changes(
    ctx: JobContext, tmp_path: Path
) -> None:
    session, players = FakeSession(), Players()
    media = media_for(ctx, session, players, music_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="hold music"):
        await media.start_hold("call-1", "missing.ogg")
    assert session.log == []
    assert players.made == []
    assert not media.holding


async def test_a_player_that_fails_gives_the_caller_back(ctx: JobContext) -> None:
    class Broken(Players):
        def __call__(self) -> Any:
            player = super().__call__()

            async def start(*, room: Any) -> None:
                raise ConnectionError("no room")

            player.start = start  # type: ignore[method-assign]
            return player

    session = FakeSession()
    media = media_for(ctx, session, Broken())
    with pytest.raises(ConnectionError):
        await media.start_hold("call-1", "builtin")
    assert session.input.audio_enabled
    assert session.output.audio_enabled
    assert not media.holding


async def test_no_detector_means_a_person(ctx: JobContext) -> None:
    assert await media_for(ctx, FakeSession(), Players()).screen_answer("consult-x", "sup") == (
        "human"
    )


async def test_a_detector_decides_and_a_failing_one_counts_as_a_person(ctx: JobContext) -> None:
    asked: list[tuple[str, str]] = []

    async def machine(room: str, supervisor: str) -> Any:
        asked.append((room, supervisor))
        return "machine"

    async def broken(room: str, supervisor: str) -> Any:
        raise RuntimeError("no STT")

    media = media_for(ctx, FakeSession(), Players(), screen=machine)
    assert await media.screen_answer("consult-x", "sup") == "machine"
    assert asked == [("consult-x", "sup")]
    media = media_for(ctx, FakeSession(), Players(), screen=broken)
    assert await media.screen_answer("consult-x", "sup") == "human"


async def test_a_brief_without_tts_says_what_is_missing(ctx: JobContext) -> None:
    session = FakeSession()
    session.tts = None
    with pytest.raises(RuntimeError, match="needs a TTS"):
        await media_for(ctx, session, Players()).brief("consult-x", "sup", "Hello")


async def test_leaving_closes_the_session_and_keeps_the_job_unheard(ctx: JobContext) -> None:
    """After a merge the AI leaves the call, but the job stays in the room (publishing
    nothing) while the engine watches the merged call; it ends when the call does."""
    reasons: list[str] = []
    ctx._on_shutdown = reasons.append
    local = ctx.room.local_participant
    voice = local.add_track("agent-voice")  # type: ignore[attr-defined]
    session = FakeSession()
    media = media_for(ctx, session, Players())
    await media.agent_leave("consult-x")  # not the caller's room: not ours to leave
    assert session.log == []
    assert voice in local.track_publications
    await media.agent_leave("call-1")
    assert session.log == ["shutdown drain=False"]
    assert local.track_publications == {}
    assert reasons == []


async def test_a_conversation_without_its_models_says_what_is_missing(ctx: JobContext) -> None:
    briefing = Briefing("Hello", "", "a reason", "a summary", 3.0)
    with pytest.raises(RuntimeError, match="brief_llm= and brief_stt="):
        await media_for(ctx, FakeSession(), Players()).converse(
            "consult-x", "sup", briefing, lambda accepted: None
        )


async def test_an_in_room_conversation_is_heard_by_the_supervisor_only(
    ctx: JobContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the caller's room (`in_room`) the conversation's track, like a template brief's,
    may be subscribed to by the supervisor only, and the caller's recent turns are its facts."""
    room = ctx.room
    assert isinstance(room, FakeRoom)
    room.remote_participants["sip_caller"] = FakeParticipant("sip_caller")
    room.remote_participants["sup"] = FakeParticipant("sup")
    seen: list[Any] = []

    async def briefing_run(
        connection: Any, supervisor: str, track: Any, *_: Any, **kw: Any
    ) -> None:
        seen.append((connection, supervisor, kw["caller_turns"]))
        seen.append(room.local_participant.permissions[-1])

    monkeypatch.setattr("orchestrator.agents.media.run_briefing", briefing_run)
    history = llm.ChatContext.empty()
    history.add_message(role="user", content="I was charged twice")
    media = media_for(ctx, FakeSession(history), Players(), brief_llm=object(), brief_stt=object())
    briefing = Briefing("Hello", "", "a reason", "a summary", 3.0)
    await media.converse("call-1", "sup", briefing, lambda accepted: None)
    (connection, supervisor, turns), (everyone, allowed) = seen
    assert (connection, supervisor, turns) == (room, "sup", ["I was charged twice"])
    assert everyone is False
    (brief_track,) = allowed["sup"]
    assert brief_track not in allowed["sip_caller"]
    assert room.local_participant.permissions[-1] == (True, {})  # opened again after
