"""The names this library gives things on LiveKit, and the ones it reads, in one place.

Participant attributes it writes: on the caller, the checkpoint (`transfer.id`,
`transfer.state`, `transfer.consult_room`, `transfer.flow_version`; see
`orchestrator.engine.checkpoint`); on every supervisor leg it dials, `transfer.id` and
`transfer.role: supervisor`, which is how recovery, cleanup and the watchdog find a
transfer's legs with nothing stored elsewhere. Attributes LiveKit's SIP bridge writes:
`sip.callStatus`, `sip.phoneNumber`. Names it makes: the consult room `consult-{id}` and
the supervisor legs `supervisor-{id}-{attempt}`.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "CALL_STATUS",
    "CHECKPOINT_KEYS",
    "CONSULT_ROOM",
    "FLOW_VERSION",
    "PHONE_NUMBER",
    "ROLE",
    "STATE",
    "SUPERVISOR",
    "TRANSFER_ID",
    "consult_room",
    "is_supervisor_leg",
    "supervisor_identity",
]

TRANSFER_ID = "transfer.id"
STATE = "transfer.state"
CONSULT_ROOM = "transfer.consult_room"
FLOW_VERSION = "transfer.flow_version"
ROLE = "transfer.role"
SUPERVISOR = "supervisor"
"""The value of `transfer.role` on the legs this library dials."""
CHECKPOINT_KEYS = (TRANSFER_ID, STATE, CONSULT_ROOM, FLOW_VERSION)
CALL_STATUS = "sip.callStatus"
"""Written by LiveKit's SIP bridge: `dialing`, `ringing`, `active`, `hangup`."""
PHONE_NUMBER = "sip.phoneNumber"


def consult_room(transfer_id: str) -> str:
    """The room a `move` transfer dials its supervisors into, named after the transfer."""
    return f"consult-{transfer_id}"


def supervisor_identity(transfer_id: str, attempt: int) -> str:
    return f"supervisor-{transfer_id}-{attempt}"


def is_supervisor_leg(attributes: Mapping[str, str]) -> bool:
    """A leg some transfer of this library dialled (whichever transfer)."""
    return attributes.get(ROLE) == SUPERVISOR
