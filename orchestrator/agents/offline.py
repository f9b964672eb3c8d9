"""Models that need no cloud account: a scripted LLM and a TTS that speaks in tones.

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
"""

from __future__ import annotations

import json
import math
import secrets
from typing import Any

import numpy as np
from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, llm, tts
from livekit.agents.types import NOT_GIVEN, NotGivenOr

__all__ = ["ScriptedLLM", "ToneTTS"]

_TASK_INSTRUCTIONS = "lk.agent_task.instructions"
_SILENT = "Do not say anything more"  # what the transfer tool returns after a merge


class ScriptedLLM(llm.LLM[None]):
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
        return _Script(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)

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


class _Script(llm.LLMStream):
    async def _run(self) -> None:
        assert isinstance(self._llm, ScriptedLLM)
        said = self._llm.reply(self._chat_ctx)
        chunk_id = secrets.token_hex(6)
        if isinstance(said, llm.FunctionToolCall):
            delta = llm.ChoiceDelta(role="assistant", tool_calls=[said])
            self._event_ch.send_nowait(llm.ChatChunk(id=chunk_id, delta=delta))
            return
        for word in said.split():
            delta = llm.ChoiceDelta(role="assistant", content=word + " ")
            self._event_ch.send_nowait(llm.ChatChunk(id=chunk_id, delta=delta))


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
