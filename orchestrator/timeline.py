"""A transfer's log events in a call-centre designer's words, one line each.

Pure functions over structlog event dicts (as logged, or as the JSON lines of `--json`): the
engine's events (`transfer.*`, `dial.*`, `livekit.request`) and the simulation-only ones that
`orchestrator.simulate` adds (`simulate.said`, `simulate.heard`, `simulate.media`).
An event may carry `at`, the simulated seconds it happened at, shown as the time column by
`render`. LiveKit API calls are shown only with `api=True`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["Stream", "describe", "render"]

# The capability probe (`orchestrator.livekit.probe`) asks these before a transfer starts,
# naming nobody: its `not_found` / `invalid_argument` answers mean "allowed", not failures.
_PROBE_RPCS = frozenset(
    {"RoomService.MoveParticipant", "RoomService.DeleteRoom", "SIP.CreateSIPParticipant"}
)
_QUIET = frozenset({"transfer.event_ignored", "transfer.participant_rejoined"})
_HIDDEN_KEYS = frozenset({"event", "level", "transfer_id", "flow", "timestamp", "at", "probe"})
_INTERNAL_STATES = frozenset({"requested", "aborted"})


def _seconds(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{value} s"  # a log line from elsewhere: shown as it is, never a crash
    number = float(value)
    return f"{number:g} s" if number == round(number, 1) else f"{number:.1f} s"


def _sip(status: Any) -> str:
    return f" (SIP {status})" if status else ""


def _api(event: Mapping[str, Any]) -> str:
    status = "ok" if event.get("ok") else str(event.get("error_code") or "failed")
    status += _sip(event.get("sip_status_code"))
    line = f"LiveKit API  {event.get('rpc', '?')} {status} {event.get('duration_ms', '?')} ms"
    if event.get("probe"):
        line += "  (capability probe: a refusal here means the method exists and is allowed)"
    return line


def _dialling(event: Mapping[str, Any]) -> str:
    number = event.get("caller_id") or ""
    if event.get("caller_id_kind") == "business":
        shown = f"the business number {number}" if number else "the trunk's own number"
    else:
        shown = f"the caller's number {number}".rstrip()
    ring = event.get("ring")
    rings = f", ringing up to {_seconds(ring)}" if ring is not None else ""
    return f"dialling {event.get('target', '?')}, showing {shown}{rings}"


def _attempt(event: Mapping[str, Any]) -> str:
    target, result = event.get("target", "?"), event.get("result", "")
    status, seconds = event.get("sip_status_code"), event.get("seconds")
    after = f" after {_seconds(seconds)}" if seconds is not None else ""
    words = {
        "answered": f"{target} answered{after}",
        "busy": f"{target}: busy{_sip(status)}",
        "no_answer": f"{target}: no answer{after}{_sip(status)}",
        "declined": f"{target}: declined{_sip(status)}",
        "voicemail": f"{target}: a voicemail answered; hung up",
        "unavailable": f"{target}: unavailable{_sip(status)}",
        "caller_id_rejected": f"{target}: the carrier refused the caller ID shown{_sip(status)}",
        "failed": f"{target}: the call failed{_sip(status)}",
        "cancelled": f"{target}: dialling stopped (the step ended)",
        "another_answered": f"{target}: cancelled, another phone of the group answered first",
    }
    return words.get(result, f"{target}: {result}{_sip(status)}")


def _finished(event: Mapping[str, Any]) -> str:
    reason = f" ({event['reason']})" if event.get("reason") else ""
    line = f"outcome: {event.get('outcome')}{reason}"
    if event.get("hold_seconds") is not None:
        line += f", caller on hold {_seconds(event['hold_seconds'])}"
    if event.get("time_to_supervisor_seconds") is not None:
        line += f", with a supervisor after {_seconds(event['time_to_supervisor_seconds'])}"
    attempts = event.get("attempts")
    if isinstance(attempts, int):
        line += f", {attempts} attempt{'' if attempts == 1 else 's'}"
    if event.get("callback_number"):
        line += f", call back {event['callback_number']}"
    return line


def _media(event: Mapping[str, Any]) -> str:
    action = event.get("action")
    if action == "start_hold":
        music = event.get("music") or "builtin"
        return f"caller on hold (music: {music})"
    if action == "stop_hold":
        return "hold music stops"
    if action == "agent_leave":
        return "the AI agent leaves the call"
    if action == "brief_closed":
        return "the briefing conversation ends"
    return f"media: {action}"


def _generic(event: Mapping[str, Any]) -> str:
    details = " ".join(f"{k}={v}" for k, v in event.items() if k not in _HIDDEN_KEYS)
    level = "warning: " if event.get("level") in ("warning", "error") else ""
    return f"{level}{event.get('event', '?')} {details}".rstrip()


def describe(event: Mapping[str, Any], *, api: bool = False) -> str | None:
    """One line for `event`, without the time; None when the event is not shown."""
    name = event.get("event", "")
    if name == "livekit.request":
        return _api(event) if api else None
    if name == "dial.request":
        if event.get("target"):
            return _dialling(event)
        if not api:
            return None  # a log from before `dial.request` named its target (0.1.0)
        return f"LiveKit API  dialling {event.get('to')} from {event.get('caller_id')} (sent)"
    if name == "dial.result":
        return _attempt(event)
    if name == "dial.group":
        names = [str(n) for n in event.get("targets") or []]
        together = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        ring = event.get("ring_seconds")
        rings = f" for up to {_seconds(ring)}" if ring is not None else ""
        return f"ringing {together} together{rings}; the first to answer is kept"
    if name == "transfer.started":
        return f"transfer started for caller {event.get('caller', '?')} (flow {event.get('flow')})"
    if name == "transfer.transition":
        target, trigger = event.get("to_state", "?"), event.get("trigger", "?")
        source = event.get("from_state", "?")
        if target in _INTERNAL_STATES:
            return f"transfer aborted ({trigger})" if target == "aborted" else None
        if target == "caller_hung_up":
            return f"the caller hung up (during step {source})"
        if target == "cold_transferred":
            return f"the caller is handed over (cold transfer, step {source})"
        return f"step {target}" + (
            "" if source in _INTERNAL_STATES else f"  ({source}: {trigger})"
        )
    if name == "simulate.said":
        if event.get("to") == "supervisor":
            who = f"supervisor ({event['target']})" if event.get("target") else "supervisor"
        else:
            who = "caller"
        return f'said to the {who}: "{event.get("text", "")}"'
    if name == "simulate.heard":
        return f'the supervisor said: "{event.get("text", "")}"'
    if name == "simulate.media":
        return _media(event)
    if name == "dial.caller_id_fallback":
        return "dialling again, showing the business number instead"
    if name == "dial.caller_id_withheld":
        return "the caller's number is missing or not E.164: showing the business number"
    if name == "transfer.merge_strategy":
        return f"merging in the caller's room ({event.get('why', '')})"
    if name == "transfer.call_ended":
        return f"call ended: {event.get('hung_up_first', '?')} hung up first"
    if name == "transfer.open_hours":
        state = "open" if event.get("open") else "closed"
        when = f"{event.get('local_time', '?')} {event.get('timezone', '?')}"
        return f"open hours: {state} ({when}, schedule {event.get('schedule', '?')})"
    if name == "transfer.callback":
        line = f"callback promised to {event.get('number', '?')} (step {event.get('step')})"
        return line + (f", not before {event['not_before']}" if event.get("not_before") else "")
    if name == "transfer.callback_no_number":
        return "no callback: the caller's number is withheld or not E.164"
    if name == "transfer.finished":
        return _finished(event)
    if name in _QUIET:
        return None
    return _generic(event)


class Stream:
    """`render` one event at a time (a live timeline): it remembers which transfers have
    started, to label the capability probe's requests (the MoveParticipant, DeleteRoom and
    CreateSIPParticipant logged before their transfer started: the engine makes none of
    these before `transfer.started` but the probe's)."""

    def __init__(self, *, api: bool = False) -> None:
        self.api = api
        self._started: set[Any] = set()

    def line(self, event: Mapping[str, Any]) -> str | None:
        name = event.get("event")
        if name == "transfer.started":
            self._started.add(event.get("transfer_id"))
        elif (
            name == "livekit.request"
            and event.get("transfer_id") not in self._started
            and event.get("rpc") in _PROBE_RPCS
            and "probe" not in event
        ):
            event = {**event, "probe": True}
        text = describe(event, api=self.api)
        if text is None:
            return None
        at = event.get("at")
        stamp = f"{float(at):8.2f}s" if isinstance(at, int | float) else " " * 9
        return f"{stamp}  {text}"


def render(events: Iterable[Mapping[str, Any]], *, api: bool = False) -> list[str]:
    """The timeline: one line per shown event, `at` (simulated seconds) as the time column."""
    stream = Stream(api=api)
    return [line for event in events if (line := stream.line(event)) is not None]
