"""What the supervisor hears about the call: the last turns of the conversation, bounded."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from livekit.agents import llm

__all__ = ["SUMMARY_CHARS", "Summarizer", "bounded", "summarize_chat"]

SUMMARY_CHARS = 500
Summarizer = Callable[[llm.ChatContext], Awaitable[str]]
"""`summarize(chat)`: your own summary of the conversation (an LLM call, for example)."""

_WHO = {"user": "Caller", "assistant": "Agent"}


def bounded(text: str, limit: int = SUMMARY_CHARS) -> str:
    """`text` on one line, cut at a word boundary to at most `limit` characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut + "…"


def summarize_chat(chat: llm.ChatContext, *, limit: int = SUMMARY_CHARS, turns: int = 6) -> str:
    """The last `turns` caller and agent messages, as many as fit in `limit` characters.

    The newest turns are kept: they say why the caller wants a person.
    """
    kept: list[str] = []
    used = 0
    for message in reversed(chat.messages()):
        who = _WHO.get(message.role)
        text = " ".join((message.text_content or "").split())
        if who is None or not text:
            continue
        line = f"{who}: {text}"
        cost = len(line) + (1 if kept else 0)  # and the space before it
        if used + cost > limit:
            if not kept:  # the newest turn alone is too long: keep its beginning
                kept.append(bounded(line, limit))
            break
        kept.append(line)
        used += cost
        if len(kept) == turns:
            break
    return " ".join(reversed(kept))
