"""Shared fault builders for the catalogue tests: SIP failures as LiveKit's bridge reports them."""

from __future__ import annotations

from typing import Any

DIAL = "SIP.CreateSIPParticipant"
MOVE = "RoomService.MoveParticipant"
UPDATE = "RoomService.UpdateParticipant"
CREATE_ROOM = "RoomService.CreateRoom"
DELETE_ROOM = "RoomService.DeleteRoom"
LIST = "RoomService.ListParticipants"

# LiveKit's SIP bridge: final SIP status -> Twirp code, and the reason phrase.
_SIP = {
    403: ("permission_denied", "Forbidden"),
    404: ("not_found", "Not Found"),
    408: ("deadline_exceeded", "Request Timeout"),
    480: ("resource_exhausted", "Temporarily Unavailable"),
    484: ("invalid_argument", "Address Incomplete"),
    486: ("resource_exhausted", "Busy Here"),
    487: ("aborted", "Request Terminated"),
    500: ("failed_precondition", "Server Internal Error"),
    503: ("failed_precondition", "Service Unavailable"),
    600: ("resource_exhausted", "Busy Everywhere"),
    603: ("permission_denied", "Decline"),
    604: ("failed_precondition", "Does Not Exist Anywhere"),
}


def sip(status: int, message: str = "", *, times: int = 1) -> dict[str, Any]:
    """A dial that fails with SIP `status` (and the provider's reason text, if given)."""
    code, reason = _SIP[status]
    return {
        "rpc": DIAL,
        "code": code,
        "sip_status_code": status,
        "message": message or reason,
        "times": times,
    }


def fullwidth(text: str) -> str:
    """`+1510` as fullwidth characters (U+FF0B, U+FF11...), which look like digits."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


def fault(rpc: str, code: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"rpc": rpc, "code": code, **extra}


def phones(default: dict[str, Any] | None = None, **numbers: dict[str, Any]) -> dict[str, Any]:
    """`phones:` of a scenario; keyword names are the last digits of SUPERVISORS' numbers."""
    table: dict[str, Any] = {"default": default or {"answer": 1.0, "on_brief": "accept"}}
    for key, spec in numbers.items():
        table[f"+1510555{key.removeprefix('n')}"] = spec
    return {"phones": table}


PRIMARY, BACKUP, LEAD = "n0100", "n0101", "n0102"

# Scenarios many cases share: every supervisor answers after 2 s and accepts after 1 s more.
HAPPY = phones({"answer": 2.0, "decide_after": 1.0})
# A supervisor's phone that answers at once and accepts the call as soon as briefed; and a
# scenario where every phone answers at once and declines.
ACCEPTS = {"answer": 0.0, "on_brief": "accept", "decide_after": 0.0}
DECLINES = {"phones": {"default": {"answer": 0.0, "on_brief": "decline", "decide_after": 0.0}}}
