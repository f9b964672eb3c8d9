"""Models that need no cloud account: scripted LLMs, a TTS that speaks in tones and an STT
that hears tones as scripted words.

For trying a worker against a local LiveKit (`make stack-up`) and for the end-to-end tests:
the agent really runs, speaks real audio frames and calls its tools, with nothing to
download and no API key to spend.

```python
session = AgentSession(llm=ScriptedLLM(), tts=ToneTTS(), vad=None,
                       turn_handling={"turn_detection": "manual"})
```

`ScriptedLLM` greets; when a turn's instructions name the transfer tool (`generate_reply(
instructions="... call transfer_to_supervisor")`) it calls that tool; after the tool answers
it says one sentence, unless the tool said the AI should say nothing more. `ToneTTS` says each word
as a short sine tone, so a phone at the far end hears when the AI speaks.

For the conversational brief (docs/conversational-brief.md): `ToneSTT` hears a tone held for
a moment at one of its frequencies as the words mapped to it (a phone "asks" by sending a
tone), and `BriefingLLM` answers the supervisor from the brief's facts (the `Reason:`,
`Summary:`, `Waited:` and `Caller said:` lines of its instructions) and calls the `accept`
or `decline` tool when told to connect or to decline, as `orchestrator.testing` does.
"""

from __future__ import annotations

import json
import math
import secrets
from typing import Any

import numpy as np
from livekit import rtc
from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, llm, stt, tts
from livekit.agents.language import LanguageCode
from livekit.agents.types import NOT_GIVEN, NotGivenOr

from orchestrator.engine.ports import Briefing
from orchestrator.testing import brief_answer, brief_decision

__all__ = ["BRIEF_WORDS", "BriefingLLM", "ScriptedLLM", "ToneSTT", "ToneTTS"]

BRIEF_WORDS = {
    700.0: "how long have they waited?",
    800.0: "why are they calling?",
    1200.0: "connect",
    1300.0: "decline",
}
"""`ToneSTT`'s default words: what a test phone "says" by sending each tone."""

_TASK_INSTRUCTIONS = "lk.agent_task.instructions"
_SILENT = "Do not say anything more"  # what the transfer tool returns after a merge


class _Offline(llm.LLM[None]):
    """An LLM whose every answer is `reply(chat_ctx)`: words, or one tool call."""

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> llm.LLMStream:
        return _Replying(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)

    def reply(self, chat_ctx: llm.ChatContext) -> str | llm.FunctionToolCall:
        raise NotImplementedError


class _Replying(llm.LLMStream):
    async def _run(self) -> None:
        assert isinstance(self._llm, _Offline)
        said = self._llm.reply(self._chat_ctx)
        chunk_id = secrets.token_hex(6)
        if isinstance(said, llm.FunctionToolCall):
            delta = llm.ChoiceDelta(role="assistant", tool_calls=[said])
            self._event_ch.send_nowait(llm.ChatChunk(id=chunk_id, delta=delta))
            return
        for word in said.split():
            delta = llm.ChoiceDelta(role="assistant", content=word + " ")
            self._event_ch.send_nowait(llm.ChatChunk(id=chunk_id, delta=delta))


class ScriptedLLM(_Offline):
    """An LLM with a script instead of a model (see the module's docstring)."""

    def __init__(
        self,
        *,
        greeting: str = "Hello, this is the support line. How can I help you today?",
        tool: str = "transfer_to_supervisor",
        reason: str = "the caller asked for a supervisor",
        after: str = "I am back with you. How else can I help?",
    ) -> None:
        super().__init__()
        self.greeting, self.tool, self.reason, self.after = greeting, tool, reason, after

    def reply(self, chat_ctx: llm.ChatContext) -> str | llm.FunctionToolCall:
        """What the script says next, given the conversation so far."""
        last = chat_ctx.items[-1] if chat_ctx.items else None
        if last is not None and last.type == "function_call_output":
            return "" if _SILENT in last.output else self.after
        if self.tool in _turn_instructions(chat_ctx):
            arguments = json.dumps({"reason": self.reason})
            return llm.FunctionToolCall(
                name=self.tool, arguments=arguments, call_id=f"call_{secrets.token_hex(4)}"
            )
        return self.greeting


def _turn_instructions(chat_ctx: llm.ChatContext) -> str:
    """The instructions of this turn (`generate_reply(instructions=...)`), if any."""
    for item in reversed(chat_ctx.items):
        if item.type == "message" and item.role == "system" and item.id != _TASK_INSTRUCTIONS:
            return item.text_content or ""
    return ""


class ToneTTS(tts.TTS[None]):
    """Each word is `word_s` seconds of a sine at `hz`, then `gap_s` of silence."""

    def __init__(
        self,
        *,
        hz: float = 1500.0,
        word_s: float = 0.18,
        gap_s: float = 0.06,
        sample_rate: int = 24000,
    ) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=sample_rate,
            num_channels=1,
        )
        self.hz, self.word_s, self.gap_s = hz, word_s, gap_s

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return _Tones(tts=self, input_text=text, conn_options=conn_options)

    def pcm(self, words: int) -> bytes:
        """`words` tones as 16-bit mono PCM."""
        rate = self.sample_rate
        tone = np.arange(int(rate * self.word_s)) / rate
        word = (0.3 * 32767 * np.sin(2 * math.pi * self.hz * tone)).astype(np.int16)
        gap = np.zeros(int(rate * self.gap_s), dtype=np.int16)
        return np.tile(np.concatenate([word, gap]), max(words, 1)).tobytes()


class _Tones(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        assert isinstance(self._tts, ToneTTS)
        output_emitter.initialize(
            request_id=secrets.token_hex(6),
            sample_rate=self._tts.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
        )
        output_emitter.push(self._tts.pcm(len(self.input_text.split())))
        output_emitter.flush()


class BriefingLLM(_Offline):
    """The briefing agent with a policy instead of a model (see the module's docstring)."""

    def reply(self, chat_ctx: llm.ChatContext) -> str | llm.FunctionToolCall:
        last = chat_ctx.items[-1] if chat_ctx.items else None
        if last is None or last.type != "message" or last.role != "user":
            return ""  # after a tool: the brief is over, nothing more to say
        said = last.text_content or ""
        decision = brief_decision(said)
        if decision is not None:
            name = "accept" if decision else "decline"
            return llm.FunctionToolCall(
                name=name, arguments="{}", call_id=f"call_{secrets.token_hex(4)}"
            )
        facts = _facts(chat_ctx)
        briefing = Briefing(
            opening="",
            instructions="",
            reason=facts.get("Reason", ""),
            summary=facts.get("Summary", ""),
            waited_s=float(facts.get("Waited", "0").split()[0] or 0),
        )
        turns = [facts["Caller said"]] if facts.get("Caller said") else []
        return brief_answer(said, briefing, turns)


def _facts(chat_ctx: llm.ChatContext) -> dict[str, str]:
    """`Name: value` lines of the system messages (the briefing agent's instructions)."""
    facts: dict[str, str] = {}
    for item in chat_ctx.items:
        if item.type == "message" and item.role == "system":
            for line in (item.text_content or "").splitlines():
                name, colon, value = line.partition(": ")
                if colon and name in ("Reason", "Summary", "Waited", "Caller said"):
                    facts[name] = value.strip()
    return facts


class ToneSTT(stt.STT[None]):
    """Hears a tone at one of `words`' frequencies, held `min_s` or more, as those words.

    Anything else (silence, speech, another tone) is heard as nothing. Streaming only: a
    turn is final when its tone stops.
    """

    def __init__(
        self,
        words: dict[float, str] | None = None,
        *,
        min_s: float = 0.3,
        sample_rate: int = 16000,
    ) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=True, interim_results=False))
        self.words = dict(BRIEF_WORDS if words is None else words)
        self.min_s, self.sample_rate = min_s, sample_rate

    def heard(self, pcm: np.ndarray) -> float | None:
        """The frequency of `words` that carries most of this frame's energy, if any."""
        samples = pcm.astype(np.float64)
        total = float(np.sum(samples**2))
        if total < len(samples) * 100.0**2:  # quieter than -50 dBFS: nothing
            return None
        times = np.arange(len(samples)) / self.sample_rate
        for hz in self.words:
            i = float(np.sum(samples * np.cos(2 * math.pi * hz * times)))
            q = float(np.sum(samples * np.sin(2 * math.pi * hz * times)))
            if 2 * (i * i + q * q) / len(samples) > 0.5 * total:
                return hz
        return None

    async def _recognize_impl(
        self,
        buffer: Any,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        raise NotImplementedError("ToneSTT streams: use stream()")

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.RecognizeStream:
        return _Listening(stt=self, conn_options=conn_options, sample_rate=self.sample_rate)


class _Listening(stt.RecognizeStream):
    async def _run(self) -> None:
        assert isinstance(self._stt, ToneSTT)
        tones, held, current = self._stt, 0.0, None
        async for frame in self._input_ch:
            if not isinstance(frame, rtc.AudioFrame):
                continue
            hz = tones.heard(np.frombuffer(frame.data, dtype=np.int16)[:: frame.num_channels])
            if hz is not None and hz == current:
                held += frame.duration
                continue
            if current is not None and held >= tones.min_s:
                text = tones.words[current]
                data = stt.SpeechData(language=LanguageCode("en"), text=text, confidence=1.0)
                event = stt.SpeechEvent(
                    type=stt.SpeechEventType.FINAL_TRANSCRIPT, alternatives=[data]
                )
                self._event_ch.send_nowait(event)
            current, held = hz, (frame.duration if hz is not None else 0.0)
